import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"

/**
 * The package root, found from this module's location so the same code works
 * from `src/` under tsx and from `dist/src/` after a build.
 */
export const projectRoot = (): string => {
  let dir = NodePath.dirname(NodeUrl.fileURLToPath(import.meta.url))
  while (!NodeFs.existsSync(NodePath.join(dir, "package.json"))) {
    const parent = NodePath.dirname(dir)
    if (parent === dir) throw new Error("package.json not found above " + import.meta.url)
    dir = parent
  }
  return dir
}
