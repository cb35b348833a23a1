/**
 * What a search's text means: its words, and which of them match as
 * prefixes. Pure; the service parses with it and the repo builds its SQL
 * from it.
 */

/** Type-ahead needs a few words, not a paragraph: later words are ignored. */
const MAX_WORDS = 8
const MAX_WORD_LENGTH = 64

/**
 * Words shorter than this match whole words only. A prefix makes the GIN
 * index read the posting list of every word that starts with it: `lo` is a
 * tenth of a 100k-track catalogue (~18k entries, ~6 ms before a single row is
 * ranked), `lov` a few hundred. See docs/performance.md. Track search keys
 * (migration 0014) are cut at the same length.
 */
export const MIN_PREFIX_LENGTH = 3

/**
 * The words of a search: runs of letters, marks and digits, lower-cased,
 * each cut to MAX_WORD_LENGTH characters, without repeats, at most MAX_WORDS.
 * So no quote, backslash or operator of the tsquery syntax can reach
 * PostgreSQL from user input. Each word is also the `track_search_keys` key
 * it is looked up by (migration 0014 keys every prefix of 3 to 64 characters,
 * and shorter words whole: the lengths here).
 */
export const searchWords = (input: string): ReadonlyArray<string> => {
  const words = input.normalize("NFKC").toLowerCase().match(/[\p{L}\p{M}\p{N}]+/gu) ?? []
  return [...new Set(words.map((w) => Array.from(w).slice(0, MAX_WORD_LENGTH).join("")))].slice(0, MAX_WORDS)
}

/** Words that PostgreSQL's parser reads unchanged: a run of ASCII letters is one word to it, a run of digits one number. */
export const isPlainWord = (word: string) => /^(?:[a-z]+|[0-9]+)$/.test(word)

/** Whether a word of `searchWords` matches every word it begins, or only itself. */
export const isPrefixWord = (word: string): boolean => Array.from(word).length >= MIN_PREFIX_LENGTH

/**
 * A tsquery matching every word (`'lo' & 'caf':*`): as a prefix from
 * MIN_PREFIX_LENGTH characters on, as a whole word below; undefined when
 * there are none. Any input gives a valid query. Every word stays a prefix
 * (SPEC §4: "prefixes match"), though a finished one costs the most: `night:*`
 * makes the GIN index merge the posting lists of every word it begins (a
 * track search of several words replaces it by those words: see the repo).
 */
export const prefixQuery = (words: ReadonlyArray<string>): string | undefined =>
  words.length === 0 ? undefined : words.map((w) => `'${w}'${isPrefixWord(w) ? ":*" : ""}`).join(" & ")

