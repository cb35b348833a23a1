/**
 * A reader numbers a playlist's entries without those concealed from them
 * (someone else's private or hidden tracks); the rows keep one stored
 * numbering of every entry. These turn the reader's positions into stored
 * ones, given the stored positions concealed from the reader, ascending.
 */

/** The stored position of the reader's `n`-th entry (n ≥ 1): n, plus the concealed entries at or before it. */
const storedPositionOf = (n: number, concealed: ReadonlyArray<number>) => {
  let stored = n
  for (const position of concealed) {
    if (position > stored) break
    stored++
  }
  return stored
}

/** Where an entry added at the reader's `position` (none: last) is stored, among `count` entries. */
export const insertionPoint = (position: number | undefined, count: number, concealed: ReadonlyArray<number>) =>
  position === undefined || position > count - concealed.length ? count + 1 : storedPositionOf(position, concealed)

/**
 * Where the entry stored at `from` goes for the reader to see it at
 * `position` (past their last: last). It moves as little as it can among the
 * entries concealed from the reader, which keep their places: moving up, it
 * lands just before the entry that is their `position`-th; moving down, just
 * after the one that is then their (`position` − 1)-th.
 */
export const moveTarget = (from: number, position: number, count: number, concealed: ReadonlyArray<number>) => {
  const seenFrom = from - concealed.filter((c) => c < from).length
  const target = Math.min(position, count - concealed.length)
  if (target === seenFrom) return from
  // The stored positions of the concealed entries once the moving entry is taken out.
  const others = concealed.map((c) => (c > from ? c - 1 : c))
  return target < seenFrom ? storedPositionOf(target, others) : storedPositionOf(target - 1, others) + 1
}
