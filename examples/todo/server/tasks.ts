import { httpEndpoint } from "kiln";

httpEndpoint("/hello", () => ({ "the answer is": 42 }));
