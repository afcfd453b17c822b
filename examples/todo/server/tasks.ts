import { type HandlerContext, HttpError, httpEndpoint, type Row } from "kilnjs";

httpEndpoint("/hello", () => ({ "the answer is": 42 }));

const auth = { authenticateUsers: true } as const;
const view = (task: Row) => ({ title: task.title, done: task.done, id: task.id });

httpEndpoint("/tasks", auth, async (_, { user, tables }) =>
  (await tables.tasks.search({ owner: user }).toArray()).map(view),
);

httpEndpoint("/new_task", { ...auth, methods: ["POST"] }, async (form, { body, user, tables }) => {
  const { title } = form.title === undefined ? json(body) : form; // a form field, or JSON
  if (typeof title !== "string" || !title) {
    throw new HttpError(400, "title must be a non-empty string");
  }
  const task = await tables.tasks.addRow({ title, done: false, owner: user });
  return { id: task.id };
});

const json = (body: unknown) => (body ?? {}) as { title?: unknown; done?: unknown };

const ownTask = async ({ params, user, tables }: HandlerContext<"/tasks/:id">) => {
  const task = await tables.tasks.getById(params.id);
  if (!task?.owner || !user?.equals(task.owner)) throw new HttpError(404, "No such task");
  return task;
};

httpEndpoint("/tasks/:id", { ...auth, methods: ["GET"] }, async (_, ctx) =>
  view(await ownTask(ctx)),
);

httpEndpoint("/tasks/:id", { ...auth, methods: ["PUT"] }, async (_, ctx) => {
  const task = await ownTask(ctx);
  const { title = task.title, done = task.done } = json(ctx.body);
  if (typeof title !== "string" || typeof done !== "boolean") {
    throw new HttpError(400, "title must be a string and done true or false");
  }
  await task.update({ title, done });
  return view(task);
});

httpEndpoint("/tasks/:id", { ...auth, methods: ["DELETE"] }, async (_, ctx) =>
  (await ownTask(ctx)).delete(),
);
