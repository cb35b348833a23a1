import { Effect, Queue } from "effect"

/**
 * Wakes this process's transcode workers as soon as a job is queued here,
 * instead of at their next poll. Other nodes still find the job by polling.
 */
export class TranscodeSignal extends Effect.Service<TranscodeSignal>()("veza/TranscodeSignal", {
  effect: Effect.map(Queue.sliding<void>(1), (queue) => ({
    notify: Queue.offer(queue, undefined).pipe(Effect.asVoid),
    /** Resolves on the next notification (or one that arrived since the last wait). */
    next: Queue.take(queue)
  }))
}) {}
