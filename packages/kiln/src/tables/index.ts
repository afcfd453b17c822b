export type { CsvOptions } from "./csv.ts";

export { TableError } from "./errors.ts";
export { Query, type QueryOperator, q } from "./query.ts";
export { openTables, type TablesOptions, type TablesService, tablesService } from "./service.ts";
export type {
  ColumnInput,
  ColumnType,
  ColumnTypes,
  ColumnValue,
  Filters,
  JsonValue,
  KilnTables,
  OrderBy,
  Row,
  RowMethods,
  RowValues,
  SearchOptions,
  SearchResult,
  Table,
  TablesAccessor,
} from "./types.ts";
