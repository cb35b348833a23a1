import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { Effect } from "effect"

/** A directory that exists for the scope and is removed, with whatever is in it, afterwards. */
export const scopedTempDir = (parent: string, prefix: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      await NodeFs.promises.mkdir(parent, { recursive: true })
      return NodeFs.promises.mkdtemp(NodePath.join(parent, prefix))
    }),
    (dir) => Effect.promise(() => NodeFs.promises.rm(dir, { recursive: true, force: true }))
  )
