import { httpEndpoint } from "kiln";

httpEndpoint("/hello", () => ({ hello: "world" }));
