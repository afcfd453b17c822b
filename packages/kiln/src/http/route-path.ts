/** Kiln's `:name*` catch-all is Fastify's `*`. */
export function toFastifyPath(path: string): string {
  const url = path.replace(/\/:[A-Za-z_$][\w$]*\*$/, "/*");
  return url === "" ? "/" : url;
}
