// The two bcrypt functions the Express peer uses (bcrypt ships no types; this avoids adding
// @types/bcrypt for one benchmark file).
declare module "bcrypt" {
  const bcrypt: {
    hashSync(data: string, rounds: number): string;
    compare(data: string, encrypted: string): Promise<boolean>;
  };
  export default bcrypt;
}
