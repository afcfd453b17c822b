import { HttpError, httpEndpoint, type Row, request, tables, users } from "kilnjs";

httpEndpoint("/hello", () => ({ "the answer is": 42 }));

const auth = { authenticateUsers: true } as const;
const view = (task: Row) => ({ title: task.title, done: task.done, id: task.id });

httpEndpoint("/tasks", auth, async () =>
  (await tables.tasks.search({ owner: users.getUser() }).toArray()).map(view),
);

httpEndpoint("/new_task", { ...auth, methods: ["POST"] }, async (form) => {
  const { title } = form.title === undefined ? json() : form; // a form field, or JSON
  if (typeof title !== "string" || !title) {
    throw new HttpError(400, "title must be a non-empty string");
  }
  const task = await tables.tasks.addRow({ title, done: false, owner: users.getUser() });
  return { id: task.id };
});

const json = () => (request.bodyJson ?? {}) as { title?: unknown; done?: unknown };

httpEndpoint("/tasks/:id", { ...auth, methods: ["GET", "PUT", "DELETE"] }, async ({ id }) => {
  const task = await tables.tasks.getById(id);
  const mine = task?.owner && users.getUser()?.equals(task.owner);
  if (!task || !mine) throw new HttpError(404, "No such task");
  if (request.method === "DELETE") return task.delete();
  if (request.method === "PUT") {
    const { title = task.title, done = task.done } = json();
    if (typeof title !== "string" || typeof done !== "boolean") {
      throw new HttpError(400, "title must be a string and done true or false");
    }
    await task.update({ title, done });
  }
  return view(task);
});
