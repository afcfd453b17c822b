import { httpEndpoint } from "kilnjs";

httpEndpoint("/hello", () => ({ hello: "world" }));
