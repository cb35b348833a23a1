import { SqlClient } from "@effect/sql"
import { Effect, Option } from "effect"
import { PublicReadCache } from "../platform/public-read-cache.js"
import { StreamingConfig } from "../tracks/config.js"

/** How long after a pass that deleted files the sweep looks at a retired prefix again (see `sweepRetired`). */
const RETIRED_RECHECK_MS = 2000

/** A job this worker holds the lease of, with what it needs to run. */
export interface ClaimedJob {
  readonly id: string
  readonly track_id: string
  readonly attempts: number
  readonly max_attempts: number
  /** Where this attempt writes; nothing else ever writes there. */
  readonly output_prefix: string
  /** The prefix of an attempt whose worker died: deleted before starting again. */
  readonly stale_prefix: string | null
  readonly storage_key: string
  readonly duration_ms: number
  /** As probed at upload: ffmpeg keeps mono mono and makes anything else stereo. */
  readonly channels: number
  /** The track's deleted or its row changed hands: nothing to transcode. */
  readonly track_gone: boolean
}

export interface Publication {
  readonly backend: string
  readonly waveform: ReadonlyArray<number>
  readonly renditions: ReadonlyArray<{
    readonly kbps: number
    readonly codecs: string
    readonly bandwidth: number
    readonly averageBandwidth: number
    readonly playlist: string
    readonly segmentCount: number
  }>
}

/**
 * The transcode job queue, in PostgreSQL so that every node with the stream
 * role shares it. A claim takes a lease that the worker renews; an expired
 * lease is claimable again by anyone, which is how a crashed node's jobs come
 * back. Every write after the claim checks that the caller still holds the
 * lease, so a worker that lost it (paused, partitioned) cannot publish over
 * the one that took over.
 */
export class JobQueue extends Effect.Service<JobQueue>()("veza/JobQueue", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const config = yield* StreamingConfig
    // A publication lists the track; a final failure changes its status. Workers on other nodes reach this node's cache by its TTL.
    const { invalidate } = yield* PublicReadCache

    const claim = (owner: string) =>
      sql<ClaimedJob>`
        with picked as (
          select j.id, j.output_prefix as stale_prefix
            from transcode_jobs j
           where (j.status = 'queued' and j.run_after <= now())
              or (j.status = 'running' and j.lease_expires_at < now())
           order by j.run_after, j.created_at
           limit 1
             for update skip locked
        ), claimed as (
          update transcode_jobs j
             set status = 'running', attempts = j.attempts + 1, lease_owner = ${owner},
                 lease_expires_at = now() + ${config.jobLeaseMs} * interval '1 millisecond',
                 started_at = now(), progress = 0, finished_at = null,
                 output_prefix = 'hls/' || j.track_id || '/' || gen_random_uuid()
            from picked
           where j.id = picked.id
          returning j.id, j.track_id, j.attempts, j.max_attempts, j.output_prefix, picked.stale_prefix
        )
        -- Every upload records its probed channel count; a row without one is
        -- transcoded as stereo, which plays correctly whatever the source was.
        select c.*, t.storage_key, t.duration_ms, coalesce(t.channels, 2)::int as channels,
               (t.deleted_at is not null) as track_gone
          from claimed c join tracks t on t.id = c.track_id`.pipe(Effect.map((rows) => Option.fromNullable(rows[0])))

    /** False when the lease is no longer ours. */
    const renew = (job: ClaimedJob, owner: string) =>
      sql`
        update transcode_jobs set lease_expires_at = now() + ${config.jobLeaseMs} * interval '1 millisecond'
         where id = ${job.id} and lease_owner = ${owner} and status = 'running'
        returning id`.pipe(Effect.map((rows) => rows.length > 0))

    const progress = (job: ClaimedJob, owner: string, percent: number) =>
      sql`update transcode_jobs set progress = ${percent}
           where id = ${job.id} and lease_owner = ${owner} and status = 'running'`.pipe(Effect.asVoid)

    /**
     * The atomic publish: one transaction points the track at the new prefix,
     * records its renditions, closes the job and schedules the replaced
     * prefix for deletion. False when the lease was lost and nothing was
     * published.
     */
    const publish = (job: ClaimedJob, owner: string, p: Publication) =>
      sql.withTransaction(
        Effect.gen(function* () {
          const held = yield* sql`
            update transcode_jobs set status = 'done', progress = 100, finished_at = now(), last_error = null,
                   lease_owner = null, lease_expires_at = null
             where id = ${job.id} and lease_owner = ${owner} and status = 'running'
            returning id`
          if (held.length === 0) return false
          const [previous] = yield* sql<{ hls_prefix: string | null }>`
            select hls_prefix from tracks where id = ${job.track_id} for update`
          if (previous?.hls_prefix != null && previous.hls_prefix !== job.output_prefix) {
            yield* sql`
              insert into hls_retired_prefixes (track_id, prefix, delete_after)
              values (${job.track_id}, ${previous.hls_prefix}, now() + ${config.replacedHlsRetentionMs} * interval '1 millisecond')
              on conflict (prefix) do nothing`
          }
          // The ladder as the API shows it (Rendition's fields, in order), so lists read it with the track.
          const ladder = [...p.renditions]
            .sort((a, b) => a.kbps - b.kbps)
            .map((r) => ({ bitrate_kbps: r.kbps, bandwidth: r.bandwidth, average_bandwidth: r.averageBandwidth, codecs: r.codecs }))
          yield* sql`
            update tracks set status = 'ready', hls_prefix = ${job.output_prefix}, hls_backend = ${p.backend},
                   waveform = ${JSON.stringify(p.waveform)}::jsonb, renditions = ${JSON.stringify(ladder)}::json,
                   published_at = coalesce(published_at, now())
             where id = ${job.track_id}`
          yield* sql`delete from hls_renditions where track_id = ${job.track_id}`
          yield* sql`
            insert into hls_renditions ${sql.insert(
              p.renditions.map((r) => ({
                track_id: job.track_id,
                job_id: job.id,
                bitrate_kbps: r.kbps,
                codecs: r.codecs,
                bandwidth: r.bandwidth,
                average_bandwidth: r.averageBandwidth,
                playlist_path: r.playlist,
                segment_count: r.segmentCount
              }))
            )}`
          return true
        })
      ).pipe(Effect.tap((published) => (published ? invalidate : Effect.void)))

    /**
     * Deletes replaced prefixes that are due, a few at a time. Each row stays
     * locked (and is only removed) until its files are gone, so a failure
     * leaves it for the next sweep and two sweepers never collide. A pass
     * that deleted files looks again RETIRED_RECHECK_MS later, and the row
     * goes once a pass finds nothing: writes still under way when a failed
     * attempt's prefix was swept (requests the storage had not answered when
     * it went away, and finished once it was back) land after the deletion.
     */
    const sweepRetired = (deletePrefix: (prefix: string) => Effect.Effect<number, unknown>) =>
      sql.withTransaction(
        Effect.gen(function* () {
          const due = yield* sql<{ id: string; prefix: string }>`
            select id, prefix from hls_retired_prefixes where delete_after <= now()
             order by delete_after limit 10 for update skip locked`
          for (const row of due) {
            const deleted = yield* Effect.either(deletePrefix(row.prefix))
            if (deleted._tag === "Left") yield* Effect.logWarning("deleting a replaced HLS prefix failed; retrying later", deleted.left)
            else if (deleted.right === 0) yield* sql`delete from hls_retired_prefixes where id = ${row.id}`
            else yield* sql`update hls_retired_prefixes set delete_after = now() + ${RETIRED_RECHECK_MS} * interval '1 millisecond' where id = ${row.id}`
          }
          return due.length
        })
      )

    /**
     * An unpublished attempt's prefix that could not be deleted (storage
     * away): the replaced-prefix sweep deletes it as soon as storage answers.
     */
    const retireNow = (trackId: string, prefix: string) =>
      sql`
        insert into hls_retired_prefixes (track_id, prefix, delete_after)
        values (${trackId}, ${prefix}, now())
        on conflict (prefix) do nothing`.pipe(Effect.asVoid)

    /**
     * A failed attempt: retried after a growing delay, or, out of attempts,
     * failed for good — and then the track too, unless an earlier transcode
     * is still published (a failed re-transcode leaves it playable).
     */
    const fail = (job: ClaimedJob, owner: string, error: string) =>
      sql.withTransaction(
        Effect.gen(function* () {
          const delayMs = config.jobRetryBaseMs * 2 ** Math.max(0, job.attempts - 1)
          const rows = yield* sql<{ status: "queued" | "failed" }>`
            update transcode_jobs
               set status = (case when attempts >= max_attempts then 'failed' else 'queued' end)::transcode_job_status,
                   run_after = now() + ${delayMs} * interval '1 millisecond',
                   finished_at = case when attempts >= max_attempts then now() end,
                   last_error = ${error.slice(0, 4000)}, progress = 0,
                   lease_owner = null, lease_expires_at = null, output_prefix = null
             where id = ${job.id} and lease_owner = ${owner} and status = 'running'
            returning status`
          if (rows[0]?.status === "failed") {
            yield* sql`update tracks set status = 'failed' where id = ${job.track_id} and hls_prefix is null`
          }
          return Option.fromNullable(rows[0]?.status)
        })
      ).pipe(Effect.tap((status) => (Option.contains(status, "failed") ? invalidate : Effect.void)))

    /** Shutdown: the job goes back to the queue as if never claimed; the attempt does not count. */
    const release = (job: ClaimedJob, owner: string) =>
      sql`
        update transcode_jobs
           set status = 'queued', attempts = greatest(attempts - 1, 0), run_after = now(), progress = 0,
               lease_owner = null, lease_expires_at = null, output_prefix = null, started_at = null
         where id = ${job.id} and lease_owner = ${owner} and status = 'running'`.pipe(Effect.asVoid)

    /** The track went away while queued: the job ends without output. */
    const abandon = (job: ClaimedJob, owner: string, reason: string) =>
      sql`
        update transcode_jobs
           set status = 'failed', finished_at = now(), last_error = ${reason}, progress = 0,
               lease_owner = null, lease_expires_at = null, output_prefix = null
         where id = ${job.id} and lease_owner = ${owner} and status = 'running'`.pipe(Effect.asVoid)

    return { claim, renew, progress, publish, fail, release, abandon, sweepRetired, retireNow } as const
  }),
  dependencies: [StreamingConfig.Default]
}) {}
