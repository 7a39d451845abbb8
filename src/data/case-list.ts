/**
 * Case-id lists: the official split lists shipped in `configs/splits/` and the list files a config may name in
 * `data.splits`. One format (one id per line, only the first comma-separated field kept, blank lines dropped)
 * and one rule: an id listed twice is an error, because it would be trained on or scored twice.
 */
import { readInputText } from '../io/read-file.js';
import { errorMessage, InputError } from '../util/errors.js';

/** A split list is a few kilobytes; anything larger is not one (and would be read whole). */
export const MAX_CASE_LIST_BYTES = 16 * 1024 * 1024;

/**
 * The ids of a list file's text, in order. Throws an InputError naming the id, both line numbers and `file`
 * when an id occurs twice.
 */
export function parseCaseList(text: string, file: string): string[] {
  const ids: string[] = [];
  const lineOf = new Map<string, number>();
  text.split(/\r?\n/).forEach((line, i) => {
    const id = line.split(',')[0].trim();
    if (id === '') return;
    const before = lineOf.get(id);
    if (before !== undefined) {
      throw new InputError(`${file}: case "${id}" is listed twice (lines ${before} and ${i + 1})`);
    }
    lineOf.set(id, i + 1);
    ids.push(id);
  });
  return ids;
}

/** Throws an InputError naming the id and `where` when `ids` holds an id twice. */
export function checkUniqueIds(ids: readonly string[], where: string): void {
  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(id)) throw new InputError(`${where}: case "${id}" is listed twice`);
    seen.add(id);
  }
}

/**
 * Reads a list file (a regular file of at most {@link MAX_CASE_LIST_BYTES}) with {@link parseCaseList}.
 * `what` names the list in a read failure, e.g. 'the train split list of la'.
 */
export async function readCaseList(file: string, what: string): Promise<string[]> {
  const text = await readInputText(file, what, {
    maxBytes: MAX_CASE_LIST_BYTES,
    failure: (error) =>
      new InputError(`${file}: cannot read ${what} (${errorMessage(error)})`, { cause: error }),
  });
  return parseCaseList(text, file);
}
