/** Postgres could not answer (down, unreachable, too slow): the caller may try again later (503). */
export class DatabaseUnavailable extends Error {
  override name = 'DatabaseUnavailable';
}
