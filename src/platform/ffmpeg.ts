import { type ChildProcess, spawn } from "node:child_process"
import * as NodeFs from "node:fs"
import { createRequire } from "node:module"
import * as NodePath from "node:path"
import type { Readable } from "node:stream"
import { Config, Data, Deferred, Duration, Effect, Either, Exit, FiberId, Option, Queue, Schema } from "effect"
import { AAC_LC_CODECS, averageBitRate, parseMediaPlaylist, peakBitRate } from "./hls-playlists.js"

export { masterPlaylist, rewritePlaylistUris } from "./hls-playlists.js"

/** The binaries are missing, do not run, or lack what the pipeline needs. */
export class FFmpegUnavailable extends Data.TaggedError("FFmpegUnavailable")<{ readonly message: string }> {}

/** The file holds no audio stream: text, an image, a video without sound, a playlist. */
export class NotAudio extends Data.TaggedError("NotAudio")<{ readonly reason: string }> {}

/** The file claims to be audio but cannot be decoded (garbage, truncated, no duration). */
export class Undecodable extends Data.TaggedError("Undecodable")<{ readonly reason: string }> {}

/** ffmpeg failed; `stderr` is the tail of what it said. */
export class TranscodeFailed extends Data.TaggedError("TranscodeFailed")<{ readonly reason: string; readonly stderr: string }> {}

export interface Probe {
  /** ffprobe's demuxer name, e.g. `mp3` or `mov,mp4,m4a,3gp,3g2,mj2`. */
  readonly formatName: string
  readonly durationMs: number
  /** Codec of the first audio stream, e.g. `mp3`, `aac`, `flac`, `vorbis`, `pcm_s16le`. */
  readonly codec: string
  readonly sampleRate: number
  readonly channels: number
  /** Bits per second of the audio stream (else of the file); null when unknown. */
  readonly bitRate: number | null
  readonly sizeBytes: number
}

export interface TranscodeOptions {
  /** Local path of the source file. */
  readonly input: string
  /** An existing, empty directory; each rung goes to `<kbps>k/` inside it. */
  readonly outputDir: string
  readonly ladderKbps: ReadonlyArray<number>
  readonly segmentSeconds: number
  /** The probed duration: turns ffmpeg's position into a percentage, and a decode of less than half of it fails. */
  readonly durationMs: number
  /** Channels of the source's first audio stream, as probed at upload: 1 stays mono, anything else becomes stereo. */
  readonly sourceChannels: number
  /** Called with whole percentages, increasing, ending with 100 on success. */
  readonly onProgress: (percent: number) => Effect.Effect<void>
}

export interface Rendition {
  readonly kbps: number
  /** Relative to the output directory, e.g. `128k`. */
  readonly directory: string
  /** Relative to the output directory, e.g. `128k/playlist.m3u8`. */
  readonly playlist: string
  readonly codecs: string
  /** Peak segment bit rate (bits/s), as BANDWIDTH wants it. */
  readonly bandwidth: number
  /** Media bytes × 8 over the total duration. */
  readonly averageBandwidth: number
  readonly segmentCount: number
}

export interface TranscodeResult {
  readonly renditions: ReadonlyArray<Rendition>
  /** PEAK_COUNT values in 0..1 (absolute sample peak over full scale, all channels), 3 decimals. */
  readonly peaks: ReadonlyArray<number>
  /** The duration actually decoded. */
  readonly durationMs: number
}

export interface Binaries {
  readonly ffmpeg: string
  readonly ffprobe: string
}

export const PEAK_COUNT = 1024
/** Every rung shares one rate so that switching rungs mid-stream is seamless. */
export const OUTPUT_SAMPLE_RATE = 44100
const STDERR_TAIL_BYTES = 4096
const PROBE_TIMEOUT = Duration.seconds(20)
const MAX_PROBE_OUTPUT_BYTES = 4 * 1024 * 1024

// ---------------------------------------------------------------------------
// Child processes

interface ProcessExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

class SpawnError extends Data.TaggedError("SpawnError")<{ readonly message: string }> {}
class TimedOut extends Data.TaggedError("TimedOut")<{ readonly message: string }> {}

const describeError = (e: unknown) => (e instanceof Error ? e.message : String(e))

/** Signals the whole group: a wrapper script's ffmpeg dies with it. A leftover group id is never reused while it exists. */
const killGroup = (child: ChildProcess) => {
  if (child.pid === undefined) return
  try {
    process.kill(-child.pid, "SIGKILL")
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ESRCH") child.kill("SIGKILL")
  }
}

const killAndAwaitExit = (child: ChildProcess) =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      killGroup(child)
      return resume(Effect.void)
    }
    let done = false
    const finish = (effect: Effect.Effect<void>) => {
      if (done) return
      done = true
      clearTimeout(timer)
      resume(effect)
    }
    // SIGKILL cannot be caught, but a process stuck in the kernel (dead NFS
    // mount) can still take its time: then stop waiting rather than hang shutdown.
    const timer = setTimeout(
      () => finish(Effect.logWarning("a killed ffmpeg/ffprobe has not exited after 5 s").pipe(Effect.annotateLogs({ pid: child.pid }))),
      5000
    )
    child.once("exit", () => finish(Effect.void))
    killGroup(child)
  })

interface SpawnOptions {
  /** Called with what the process writes on stdout (fd 1) and stderr (fd 2). */
  readonly onData: (fd: 1 | 2, chunk: Buffer) => void
  readonly onClose?: (exit: ProcessExit) => void
}

/**
 * Runs a binary as the leader of its own process group (`detached`), tied to
 * the current scope: closing the scope SIGKILLs the group and waits for the
 * exit. SIGKILL rather than SIGTERM because ffmpeg treats SIGTERM as "finish
 * up" (flush encoders, write trailers), which is slow and yields output we
 * are about to delete. @effect/platform's Command does kill the group, but
 * with SIGTERM.
 *
 * Listeners go on in the same tick as spawn(), so nothing can be missed.
 */
const spawnGroup = (binary: string, args: ReadonlyArray<string>, options: SpawnOptions) =>
  Effect.acquireRelease(
    Effect.async<{ readonly child: ChildProcess; readonly closed: Effect.Effect<ProcessExit> }, SpawnError>((resume) => {
      const closed = Deferred.unsafeMake<ProcessExit>(FiberId.none)
      let child: ChildProcess
      try {
        child = spawn(binary, args, {
          detached: true,
          stdio: ["ignore", "pipe", "pipe"]
        })
      } catch (e) {
        return resume(Effect.fail(new SpawnError({ message: `cannot run ${binary}: ${describeError(e)}` })))
      }
      let started = false
      for (const fd of [1, 2] as const) {
        const stream = child.stdio[fd] as Readable | null
        stream?.on("data", (chunk: Buffer) => options.onData(fd, chunk))
        // A broken pipe surfaces as the process's exit status; don't let it throw.
        stream?.on("error", () => {})
      }
      child.on("error", (e) => {
        if (!started) {
          started = true
          resume(Effect.fail(new SpawnError({ message: `cannot run ${binary}: ${e.message}` })))
        }
      })
      child.once("spawn", () => {
        started = true
        resume(Effect.succeed({ child, closed: Deferred.await(closed) }))
      })
      child.once("close", (code: number | null, signal: NodeJS.Signals | null) => {
        options.onClose?.({ code, signal })
        Deferred.unsafeDone(closed, Exit.succeed({ code, signal }))
      })
    }),
    ({ child }) => killAndAwaitExit(child)
  )

interface Finished extends ProcessExit {
  readonly stdout: string
  readonly stderr: string
}

/** Runs to completion, collecting its output; interruption or the timeout kills it. */
const runToEnd = (binary: string, args: ReadonlyArray<string>, timeout: Duration.Duration) =>
  Effect.gen(function* () {
    const out: Array<Buffer> = []
    const err: Array<Buffer> = []
    let outBytes = 0
    const { closed } = yield* spawnGroup(binary, args, {
      onData: (fd, chunk) => {
        if (fd === 2) return void err.push(chunk)
        // Past the cap the JSON is cut short and fails to parse, which is what should happen.
        outBytes += chunk.length
        if (outBytes <= MAX_PROBE_OUTPUT_BYTES) out.push(chunk)
      }
    })
    const exit = yield* closed
    return {
      ...exit,
      stdout: Buffer.concat(out).toString("utf8"),
      stderr: Buffer.concat(err).toString("utf8")
    } satisfies Finished
  }).pipe(
    Effect.scoped,
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () => new TimedOut({ message: `${NodePath.basename(binary)} took longer than ${Duration.format(timeout)}` })
    })
  )

/**
 * What ffmpeg said, one line per distinct message, without the `[mp3 @ 0x…]`
 * prefixes or the file's path, and without this build's spurious complaint
 * about renaming playlists (it prints it at error level for every HLS output).
 */
const tidyStderr = (stderr: string, path?: string) => {
  const lines = stderr
    .split(/\r?\n/)
    .map((line) => line.replace(/^\[[^\]]* @ 0x[0-9a-f]+\] /, "").trim())
    .map((line) => (path === undefined ? line : line.split(`file:${path}`).join(NodePath.basename(path))))
    .filter((line) => line.length > 0 && !NOISE.some((noise) => line.startsWith(noise)))
  return Array.from(new Set(lines))
}

const NOISE = ["Cannot use rename on non file protocol", "Last message repeated", "Consider increasing the value for the"]

const shortReason = (lines: ReadonlyArray<string>, fallback: string) => {
  const text = lines.slice(-3).join("; ")
  if (text.length === 0) return fallback
  return text.length > 300 ? `${text.slice(0, 297)}...` : text
}

// ---------------------------------------------------------------------------
// Binaries

const requireFromHere = createRequire(import.meta.url)

const optionalPath = (name: string) =>
  Config.option(Config.string(name)).pipe(Config.map(Option.filter((value) => value.trim().length > 0)))

const binaryFor = (name: "ffmpeg" | "ffprobe", variable: string, installer: string) =>
  Effect.gen(function* () {
    const fromEnv = yield* optionalPath(variable).pipe(
      Effect.mapError((e) => new FFmpegUnavailable({ message: `${variable}: ${String(e)}` }))
    )
    if (Option.isSome(fromEnv)) return { path: fromEnv.value, origin: variable }
    // Required lazily: the installer packages throw on platforms they have no binary for.
    const path = yield* Effect.try({
      try: () => (requireFromHere(installer) as { readonly path: string }).path,
      catch: (e) =>
        new FFmpegUnavailable({ message: `${name}: ${installer} has no binary here (${describeError(e)}); set ${variable}` })
    })
    return { path, origin: installer }
  })

/** Runs `-version` (and checks the capabilities the pipeline relies on) so a bad path fails at start-up, not at the first upload. */
const verify = (name: "ffmpeg" | "ffprobe", binary: { readonly path: string; readonly origin: string }) =>
  Effect.gen(function* () {
    const where = `${name} at ${binary.path} (from ${binary.origin})`
    const run = (args: ReadonlyArray<string>) =>
      runToEnd(binary.path, args, Duration.seconds(10)).pipe(
        Effect.mapError((e) => new FFmpegUnavailable({ message: `${where} does not run: ${e.message}` }))
      )
    const version = yield* run(["-version"])
    const firstLine = version.stdout.split("\n")[0] ?? ""
    if (version.code !== 0 || !firstLine.startsWith(`${name} version`)) {
      return yield* new FFmpegUnavailable({
        message: `${where} does not run: \`-version\` ${version.code === null ? `was killed by ${version.signal}` : `exited with ${version.code}`}${version.stderr.trim() === "" ? "" : `: ${tidyStderr(version.stderr).slice(-1)[0]}`}`
      })
    }
    if (name === "ffmpeg") {
      const hls = yield* run(["-hide_banner", "-h", "muxer=hls"])
      const aac = yield* run(["-hide_banner", "-h", "encoder=aac"])
      if (!hls.stdout.includes("hls_segment_type") || !hls.stdout.includes("fmp4") || !aac.stdout.includes("Encoder aac")) {
        return yield* new FFmpegUnavailable({
          message: `${where} lacks fMP4 HLS output or the native AAC encoder (needs ffmpeg 4.0 or newer)`
        })
      }
    }
    return firstLine
  })

// ---------------------------------------------------------------------------
// Probe

const FfprobeOutput = Schema.parseJson(
  Schema.Struct({
    streams: Schema.optionalWith(
      Schema.Array(
        Schema.Struct({
          codec_type: Schema.optional(Schema.String),
          codec_name: Schema.optional(Schema.String),
          sample_rate: Schema.optional(Schema.String),
          channels: Schema.optional(Schema.Number),
          bit_rate: Schema.optional(Schema.String),
          duration: Schema.optional(Schema.String)
        })
      ),
      { default: () => [] }
    ),
    format: Schema.optionalWith(
      Schema.Struct({
        format_name: Schema.optional(Schema.String),
        start_time: Schema.optional(Schema.String),
        duration: Schema.optional(Schema.String),
        size: Schema.optional(Schema.String),
        bit_rate: Schema.optional(Schema.String)
      }),
      { default: () => ({}) }
    )
  })
)

/** A positive finite number, or undefined (ffprobe writes "N/A" for unknowns). */
const positive = (text: string | undefined) => {
  const n = text === undefined ? Number.NaN : Number(text)
  return Number.isFinite(n) && n > 0 ? n : undefined
}

/**
 * Demuxers that pull in other files or URLs: an upload must be the audio
 * itself, and following references from user data invites SSRF and local
 * file disclosure.
 */
const INDIRECT_FORMATS = new Set(["hls", "applehttp", "concat", "dash", "imf", "sdp", "rtsp"])

const AUDIO_EXTENSIONS = new Set([
  "mp3", "wav", "flac", "ogg", "oga", "opus", "m4a", "m4b", "mp4", "aac", "aif", "aiff", "aifc",
  "wma", "mka", "webm", "caf", "ape", "wv", "alac", "amr", "au"
])

const startsLikeAudio = (head: Buffer) => {
  const ascii = (from: number, to: number) => head.subarray(from, to).toString("latin1")
  return (
    ["ID3", "fLa", "Ogg", "caf", "MAC", "wvp", "TTA", "#!A"].includes(ascii(0, 3)) ||
    (head[0] === 0xff && ((head[1] ?? 0) & 0xe0) === 0xe0) || // MPEG audio / ADTS frame sync
    (["RIFF", "RF64"].includes(ascii(0, 4)) && ascii(8, 12) === "WAVE") ||
    (ascii(0, 4) === "FORM" && ascii(8, 11) === "AIF") ||
    ascii(4, 8) === "ftyp" ||
    head.subarray(0, 4).equals(Buffer.from([0x1a, 0x45, 0xdf, 0xa3])) || // Matroska / WebM
    head.subarray(0, 4).equals(Buffer.from([0x30, 0x26, 0xb2, 0x75])) // ASF / WMA
  )
}

const looksLikeText = (head: Buffer) => {
  if (head.some((b) => (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0x0c) || b === 0x7f)) return false
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(head, { stream: true })
    return true
  } catch {
    return false
  }
}

/**
 * What a file ffprobe could not make sense of claims to be. Uploads are
 * stored without their name, so the content decides first: text is never
 * audio, whatever it is called; known audio signatures — or an audio
 * extension, when the path has one — make it broken audio.
 */
const classifyUnreadable = (path: string) =>
  Effect.sync((): "empty" | "text" | "audio" | "unknown" => {
    let head: Buffer
    try {
      const fd = NodeFs.openSync(path, "r")
      try {
        const buffer = Buffer.alloc(4096)
        head = buffer.subarray(0, NodeFs.readSync(fd, buffer, 0, buffer.length, 0))
      } finally {
        NodeFs.closeSync(fd)
      }
    } catch {
      return "unknown"
    }
    if (head.length === 0) return "empty"
    if (looksLikeText(head)) return "text"
    if (startsLikeAudio(head) || AUDIO_EXTENSIONS.has(NodePath.extname(path).slice(1).toLowerCase())) return "audio"
    return "unknown"
  })

const ffprobeInput = (path: string) => ["-hide_banner", "-protocol_whitelist", "file", "-i", `file:${path}`]

/**
 * ffprobe reads headers only, so a file cut short (an interrupted upload)
 * still reports its full duration. Decoding two seconds at the start and two
 * seconds before the claimed end (a seek, so cheap whatever the length) shows
 * whether the audio is really there. Skipped at the end when the duration is
 * itself an estimate from the bit rate, which seeking would trust just as wrongly.
 */
const decodeCheck = (ffprobe: string, path: string, startSeconds: number, seconds: number, durationIsEstimate: boolean) =>
  Effect.gen(function* () {
    const tailStart = Math.max(0, startSeconds + seconds - 2)
    const result = yield* runToEnd(
      ffprobe,
      [
        "-v", "error",
        "-select_streams", "a:0",
        "-read_intervals", `%+2,${tailStart.toFixed(3)}%+2`,
        "-show_entries", "frame=best_effort_timestamp_time",
        "-of", "csv=p=0",
        ...ffprobeInput(path)
      ],
      PROBE_TIMEOUT
    )
    const problems = tidyStderr(result.stderr, path)
    if (result.code !== 0) return yield* new Undecodable({ reason: shortReason(problems, "the audio cannot be decoded") })
    const times = result.stdout
      .split("\n")
      .map((line) => Number.parseFloat(line))
      .filter(Number.isFinite)
    if (!times.some((t) => t <= startSeconds + 2.5)) {
      return yield* new Undecodable({ reason: shortReason(problems, "no audio could be decoded at the start") })
    }
    const last = Math.max(...times)
    if (!durationIsEstimate && last < startSeconds + seconds - 3) {
      return yield* new Undecodable({
        reason: `the audio stops at ${last.toFixed(1)} s although the file claims ${seconds.toFixed(1)} s (truncated?)`
      })
    }
  })

const probeWith = (ffprobe: string) => (path: string): Effect.Effect<Probe, NotAudio | Undecodable> =>
  Effect.gen(function* () {
    const described = yield* runToEnd(
      ffprobe,
      // Warnings, not just errors: "Estimating duration from bitrate" matters below.
      ["-v", "warning", "-print_format", "json", "-show_format", "-show_streams", ...ffprobeInput(path)],
      PROBE_TIMEOUT
    )
    const problems = tidyStderr(described.stderr, path)
    /** ffprobe refused the file, or found an audio stream it cannot describe. */
    const unreadable = (foundAudio: boolean, fallback: string) =>
      Effect.flatMap(classifyUnreadable(path), (kind): Effect.Effect<never, NotAudio | Undecodable> => {
        switch (kind) {
          case "empty":
            return Effect.fail(new Undecodable({ reason: "the file is empty" }))
          case "text":
            return Effect.fail(new NotAudio({ reason: "it is text" }))
          case "audio":
            return Effect.fail(new Undecodable({ reason: shortReason(problems, fallback) }))
          case "unknown":
            return Effect.fail(
              foundAudio ? new Undecodable({ reason: shortReason(problems, fallback) }) : new NotAudio({ reason: "not a media file" })
            )
        }
      })
    if (described.code !== 0) return yield* unreadable(false, "ffprobe cannot read it")
    const output = Schema.decodeEither(FfprobeOutput)(described.stdout)
    if (Either.isLeft(output)) return yield* new Undecodable({ reason: "ffprobe's description is unreadable" })
    const { format, streams } = output.right
    const formatName = format.format_name ?? "unknown"
    if (formatName.split(",").some((name) => INDIRECT_FORMATS.has(name))) {
      return yield* new NotAudio({ reason: `${formatName} files refer to other files; upload the audio itself` })
    }
    const audio = streams.find((s) => s.codec_type === "audio")
    if (audio === undefined) {
      const kinds = Array.from(new Set(streams.map((s) => s.codec_type ?? "unknown")))
      return yield* new NotAudio({ reason: kinds.length === 0 ? "no streams" : `no audio stream (only ${kinds.join(", ")})` })
    }
    const sampleRate = positive(audio.sample_rate)
    const channels = audio.channels ?? 0
    if (audio.codec_name === undefined || sampleRate === undefined || channels <= 0) {
      return yield* unreadable(true, "the audio stream has no decodable parameters")
    }
    const seconds = positive(format.duration) ?? positive(audio.duration)
    if (seconds === undefined) return yield* new Undecodable({ reason: "unknown or zero duration" })
    const durationIsEstimate = described.stderr.includes("Estimating duration from bitrate")
    yield* decodeCheck(ffprobe, path, Number(format.start_time ?? 0) || 0, seconds, durationIsEstimate)
    const sizeBytes = positive(format.size) ?? (yield* Effect.sync(() => NodeFs.statSync(path).size))
    return {
      formatName,
      durationMs: Math.round(seconds * 1000),
      codec: audio.codec_name,
      sampleRate,
      channels,
      bitRate: Math.round(positive(audio.bit_rate) ?? positive(format.bit_rate) ?? 0) || null,
      sizeBytes
    } satisfies Probe
  }).pipe(
    Effect.catchTags({
      // A verified binary that cannot start is the machine's fault (a defect); a timeout is the file's.
      SpawnError: (e) => Effect.die(e),
      TimedOut: () => Effect.fail(new Undecodable({ reason: "probing took too long" }))
    })
  )

// ---------------------------------------------------------------------------
// Transcode

/** `%` starts a sequence-number pattern in ffmpeg's segment file template. */
const template = (path: string) => path.replace(/%/g, "%%")

const rungDirectory = (kbps: number) => `${kbps}k`

/** Where the peaks branch goes: beside the rung folders, so it is never uploaded with them. */
const peaksFile = (outputDir: string) => NodePath.join(outputDir, "peaks.u8")

/**
 * The single ffmpeg command: decode once, normalise once (44.1 kHz; mono
 * stays mono, anything wider becomes stereo), `asplit` to one HLS muxer per
 * rung and — unless disabled, for benchmarks — one more branch as raw 8-bit
 * PCM into `peaksFile(outputDir)` for the waveform, with machine-readable
 * progress on stdout. Separate outputs instead of `-var_stream_map`, which
 * this 2018 build handles badly.
 *
 * The layout is named explicitly (`ocl`) because this build cannot
 * renegotiate a choice like `aformat=channel_layouts=stereo|mono` when the
 * decoder's first frame reinitialises the graph (5.1 FLAC does): it fails
 * with "Cannot select channel layout". And it is not always stereo because
 * swresample upmixes mono at -3 dB.
 */
export const transcodeArgs = (
  options: Pick<TranscodeOptions, "input" | "outputDir" | "ladderKbps" | "segmentSeconds" | "sourceChannels">,
  extras: { readonly peaksAndProgress: boolean } = { peaksAndProgress: true }
): ReadonlyArray<string> => {
  const rungs = options.ladderKbps
  const labels = rungs.map((_, i) => `[r${i}]`).join("")
  const normalise = `[0:a:0]aresample=${OUTPUT_SAMPLE_RATE}:ocl=${options.sourceChannels === 1 ? "mono" : "stereo"},aformat=sample_fmts=fltp`
  const graph = extras.peaksAndProgress
    ? `${normalise},asplit=${rungs.length + 1}${labels}[p];[p]aformat=sample_fmts=u8[pcm]`
    : `${normalise},asplit=${rungs.length}${labels}`
  return [
    "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y",
    ...(extras.peaksAndProgress ? ["-progress", "pipe:1"] : []),
    "-protocol_whitelist", "file",
    "-i", `file:${options.input}`,
    "-filter_complex", graph,
    ...rungs.flatMap((kbps, i) => {
      const dir = NodePath.join(options.outputDir, rungDirectory(kbps))
      return [
        "-map", `[r${i}]`, "-map_metadata", "-1",
        "-c:a", "aac", "-profile:a", "aac_low", "-b:a", `${kbps}k`,
        "-f", "hls",
        "-hls_segment_type", "fmp4",
        "-hls_fmp4_init_filename", "init.mp4",
        "-hls_time", String(options.segmentSeconds),
        "-hls_list_size", "0",
        "-hls_playlist_type", "vod",
        "-hls_segment_filename", `file:${template(dir)}/seg_%05d.m4s`,
        `file:${NodePath.join(dir, "playlist.m3u8")}`
      ]
    }),
    ...(extras.peaksAndProgress
      ? ["-map", "[pcm]", "-map_metadata", "-1", "-c:a", "pcm_u8", "-f", "u8", `file:${peaksFile(options.outputDir)}`]
      : [])
  ]
}

/** |sample − 128| for unsigned 8-bit PCM, where silence is 128. */
const U8_MAGNITUDE = Uint8Array.from({ length: 256 }, (_, b) => Math.abs(b - 128))
/** The larger magnitude of the two samples in a 16-bit half of a word (64 KB: stays in cache). */
const PAIR_MAGNITUDE = Uint8Array.from({ length: 65536 }, (_, v) => Math.max(U8_MAGNITUDE[v & 0xff]!, U8_MAGNITUDE[v >>> 8]!))

/**
 * Waveform peaks from raw 8-bit PCM, without keeping the audio: the maxima
 * of fixed blocks of samples, at most 2 × PEAK_COUNT × 16 of them — when
 * full, neighbours merge and blocks double. The length need not be known in
 * advance (a probed duration may be an estimate); buckets are cut at the end.
 *
 * 8-bit samples: 26 MB for five minutes of stereo, every sample and channel
 * still seen, so no peak is missed; a peak is off by at most 1/256 of full
 * scale, below what a 1024-bar waveform can show.
 */
class PeakMeter {
  private readonly blocks = new Uint16Array(PEAK_COUNT * 32)
  private blockCount = 0
  private blockSamples: number
  private current = 0
  private inBlock = 0
  private samples = 0

  constructor(private readonly channels: number, private readonly sampleRate: number) {
    this.blockSamples = channels
  }

  /**
   * The hot loop: ~26 M samples for five minutes of stereo, read four at a
   * time as words (each half looked up as a pair), which takes about half
   * the time of a loop over bytes. `data` must start on a 4-byte boundary.
   */
  push(data: Uint8Array, length: number) {
    const words = new Uint32Array(data.buffer, data.byteOffset, length >>> 2)
    let i = 0
    while (i < length) {
      const end = Math.min(length, i + this.blockSamples - this.inBlock)
      let current = this.current
      let j = i
      for (; j < end && (j & 3) !== 0; j++) {
        const a = U8_MAGNITUDE[data[j]!]!
        if (a > current) current = a
      }
      const wordsEnd = end >>> 2
      for (let w = j >>> 2; w < wordsEnd; w++) {
        const word = words[w]!
        const a = PAIR_MAGNITUDE[word & 0xffff]!
        const b = PAIR_MAGNITUDE[word >>> 16]!
        if (a > current) current = a
        if (b > current) current = b
      }
      for (j = Math.max(j, wordsEnd << 2); j < end; j++) {
        const a = U8_MAGNITUDE[data[j]!]!
        if (a > current) current = a
      }
      this.inBlock += end - i
      i = end
      if (this.inBlock === this.blockSamples) {
        this.samples += this.inBlock
        this.closeBlock(current)
        this.current = 0
        this.inBlock = 0
      } else {
        this.current = current
      }
    }
  }

  private closeBlock(max: number) {
    this.blocks[this.blockCount++] = max
    if (this.blockCount === this.blocks.length) {
      for (let j = 0; j < this.blockCount / 2; j++) {
        this.blocks[j] = Math.max(this.blocks[2 * j]!, this.blocks[2 * j + 1]!)
      }
      this.blockCount /= 2
      this.blockSamples *= 2
    }
  }

  finish(): Either.Either<{ readonly peaks: ReadonlyArray<number>; readonly durationMs: number }, string> {
    if (this.inBlock > 0) {
      this.samples += this.inBlock
      this.blocks[this.blockCount++] = this.current
      this.inBlock = 0
    }
    const n = this.blockCount
    if (n === 0) return Either.left("ffmpeg decoded no audio")
    const peaks: Array<number> = []
    for (let b = 0; b < PEAK_COUNT; b++) {
      const from = Math.min(n - 1, Math.floor((b * n) / PEAK_COUNT))
      const to = Math.max(from + 1, Math.floor(((b + 1) * n) / PEAK_COUNT))
      let max = 0
      for (let j = from; j < to; j++) max = Math.max(max, this.blocks[j]!)
      peaks.push(Math.round((max / 128) * 1000) / 1000)
    }
    return Either.right({ peaks, durationMs: Math.round((this.samples / this.channels / this.sampleRate) * 1000) })
  }
}

const PEAKS_READ_BYTES = 1024 * 1024

/**
 * Follows the PCM file ffmpeg is writing, feeding the meter through one
 * buffer reused for the whole job. Through a pipe, every chunk was a fresh
 * Buffer outside the JS heap: 26 MB of them per job made V8 run full
 * garbage collections of the whole heap for "external memory pressure", and
 * a full pipe stalled ffmpeg whenever Node was slow to read.
 */
class PeaksFile {
  private handle: NodeFs.promises.FileHandle | null = null
  private position = 0
  // Its own ArrayBuffer, so it starts on the word boundary the meter needs.
  private readonly buffer = new Uint8Array(PEAKS_READ_BYTES)

  constructor(private readonly path: string, private readonly meter: PeakMeter) {}

  /** Reads what ffmpeg has written so far; false while the file does not exist yet. */
  async drain(): Promise<boolean> {
    if (this.handle === null) {
      try {
        this.handle = await NodeFs.promises.open(this.path, "r")
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return false
        throw e
      }
    }
    while (true) {
      const { bytesRead } = await this.handle.read(this.buffer, 0, this.buffer.length, this.position)
      if (bytesRead === 0) return true
      this.position += bytesRead
      this.meter.push(this.buffer, bytesRead)
    }
  }

  close() {
    const handle = this.handle
    this.handle = null
    return handle === null ? Promise.resolve() : handle.close()
  }
}

/** Turns `-progress` key=value lines into whole, increasing percentages below 100. */
class ProgressParser {
  private partial = ""
  private last = -1

  constructor(private readonly durationMs: number, private readonly report: (percent: number) => void) {}

  push(chunk: Buffer) {
    const lines = (this.partial + chunk.toString("latin1")).split("\n")
    this.partial = lines.pop() ?? ""
    for (const line of lines) {
      // out_time_ms is in microseconds too (a long-standing ffmpeg quirk); newer builds add out_time_us.
      const match = /^out_time_(?:us|ms)=(\d+)$/.exec(line.trim())
      if (match === null) continue
      const percent = Math.min(99, Math.floor(Number(match[1]) / 10 / this.durationMs))
      if (percent > this.last) {
        this.last = percent
        this.report(percent)
      }
    }
  }
}

/** Keeps the last `limit` bytes of a stream, decoded only at the end so no character is cut mid-way by a chunk. */
class Tail {
  private bytes = Buffer.alloc(0)
  constructor(private readonly limit: number) {}
  push(chunk: Buffer) {
    this.bytes = Buffer.concat([this.bytes, chunk])
    if (this.bytes.length > this.limit) this.bytes = this.bytes.subarray(this.bytes.length - this.limit)
  }
  toString() {
    return this.bytes.toString("utf8")
  }
}

const failed = (reason: string, stderr = "") => new TranscodeFailed({ reason, stderr })

const validate = (options: TranscodeOptions) => {
  const { ladderKbps, segmentSeconds, durationMs } = options
  if (ladderKbps.length === 0) return "the ladder is empty"
  if (ladderKbps.some((k) => !Number.isInteger(k) || k < 8 || k > 512)) return `bad ladder ${ladderKbps.join(",")} (integers 8..512 kbps)`
  if (new Set(ladderKbps).size !== ladderKbps.length) return `the ladder ${ladderKbps.join(",")} repeats a rung`
  if (!(segmentSeconds > 0)) return `bad segment length ${segmentSeconds}`
  if (!(durationMs > 0)) return `bad duration ${durationMs}`
  if (!Number.isInteger(options.sourceChannels) || options.sourceChannels < 1) return `bad channel count ${options.sourceChannels}`
  return null
}

/** Reads a finished rung back: a complete VOD playlist whose files all exist, and its measured bandwidth. */
const readRendition = (outputDir: string, kbps: number) =>
  Effect.tryPromise({
    try: async (): Promise<Either.Either<Rendition, string>> => {
      const directory = rungDirectory(kbps)
      const playlist = `${directory}/playlist.m3u8`
      const parsed = parseMediaPlaylist(await NodeFs.promises.readFile(NodePath.join(outputDir, playlist), "utf8"))
      if (Either.isLeft(parsed)) return Either.left(`${playlist}: ${parsed.left}`)
      const media = parsed.right
      if (media.playlistType !== "VOD" || !media.endList || media.mapUri === null || media.segments.length === 0) {
        return Either.left(`${playlist} is not a complete fMP4 VOD playlist`)
      }
      await NodeFs.promises.access(NodePath.join(outputDir, directory, media.mapUri))
      const sized = await Promise.all(
        media.segments.map(async (s) => ({
          durationSeconds: s.durationSeconds,
          bytes: (await NodeFs.promises.stat(NodePath.join(outputDir, directory, s.uri))).size
        }))
      )
      return Either.right({
        kbps,
        directory,
        playlist,
        codecs: AAC_LC_CODECS,
        bandwidth: peakBitRate(sized, media.targetDurationSeconds),
        averageBandwidth: averageBitRate(sized),
        segmentCount: sized.length
      })
    },
    catch: (e) => failed(`reading the ${kbps}k rendition back: ${describeError(e)}`)
  }).pipe(Effect.flatMap(Either.match({ onLeft: (reason) => Effect.fail(failed(reason)), onRight: Effect.succeed })))

type TranscodeEvent = { readonly _tag: "Progress"; readonly percent: number } | ({ readonly _tag: "Closed" } & ProcessExit)

const transcodeWith = (binaries: Binaries) => (options: TranscodeOptions): Effect.Effect<TranscodeResult, TranscodeFailed> =>
  Effect.gen(function* () {
    const invalid = validate(options)
    if (invalid !== null) return yield* failed(`invalid options: ${invalid}`)
    yield* Effect.try({
      try: () => options.ladderKbps.forEach((kbps) => NodeFs.mkdirSync(NodePath.join(options.outputDir, rungDirectory(kbps)), { recursive: true })),
      catch: (e) => failed(`cannot create the rendition directories: ${describeError(e)}`)
    })
    // Node callbacks only enqueue; this fiber reports, so onProgress runs in order and on the caller's fiber.
    const events = yield* Queue.unbounded<TranscodeEvent>()
    const meter = new PeakMeter(options.sourceChannels === 1 ? 1 : 2, OUTPUT_SAMPLE_RATE)
    const pcm = yield* Effect.acquireRelease(
      Effect.sync(() => new PeaksFile(peaksFile(options.outputDir), meter)),
      (file) => Effect.promise(() => file.close().catch(() => undefined))
    )
    const drain = Effect.tryPromise({
      try: () => pcm.drain(),
      catch: (e) => failed(`reading the peaks: ${describeError(e)}`)
    })
    const stderr = new Tail(STDERR_TAIL_BYTES)
    const progress = new ProgressParser(options.durationMs, (percent) => Queue.unsafeOffer(events, { _tag: "Progress", percent }))
    yield* spawnGroup(binaries.ffmpeg, transcodeArgs(options), {
      onData: (fd, chunk) => (fd === 1 ? progress.push(chunk) : stderr.push(chunk)),
      onClose: (exit) => Queue.unsafeOffer(events, { _tag: "Closed", ...exit })
    }).pipe(Effect.mapError((e) => failed(e.message)))

    let exit: ProcessExit | undefined
    while (exit === undefined) {
      const event = yield* Queue.take(events)
      if (event._tag === "Progress") {
        // Keeps pace with ffmpeg, so that little is left to read once it exits.
        yield* drain
        yield* options.onProgress(event.percent)
      } else exit = event
    }
    const tail = tidyStderr(stderr.toString(), options.input).join("\n")
    if (exit.code !== 0) {
      const how = exit.code === null ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`
      return yield* failed(`ffmpeg ${how}: ${shortReason(tail.split("\n"), "no message")}`, tail)
    }
    if (!(yield* drain)) return yield* failed("ffmpeg wrote no peaks file", tail)
    const measured = meter.finish()
    if (Either.isLeft(measured)) return yield* failed(measured.left, tail)
    // ffmpeg skips what it cannot decode and still exits 0: a mostly broken file
    // would publish as a stub. Estimated durations are off by far less than half.
    if (measured.right.durationMs < options.durationMs / 2 - 1000) {
      const seconds = (ms: number) => (ms / 1000).toFixed(1)
      return yield* failed(
        `ffmpeg decoded only ${seconds(measured.right.durationMs)} s of the ${seconds(options.durationMs)} s the file claims`,
        tail
      )
    }
    const renditions = yield* Effect.forEach(options.ladderKbps, (kbps) => readRendition(options.outputDir, kbps))
    yield* options.onProgress(100)
    return { renditions, peaks: measured.right.peaks, durationMs: measured.right.durationMs }
  }).pipe(Effect.scoped)

// ---------------------------------------------------------------------------
// Service

/**
 * ffprobe and ffmpeg behind one service. The binaries come from
 * FFMPEG_PATH / FFPROBE_PATH (empty counts as unset), else from the
 * @ffmpeg-installer / @ffprobe-installer packages; building the layer checks
 * that they run.
 */
export class FFmpeg extends Effect.Service<FFmpeg>()("veza/FFmpeg", {
  effect: Effect.gen(function* () {
    const ffmpeg = yield* binaryFor("ffmpeg", "FFMPEG_PATH", "@ffmpeg-installer/ffmpeg")
    const ffprobe = yield* binaryFor("ffprobe", "FFPROBE_PATH", "@ffprobe-installer/ffprobe")
    const [ffmpegVersion, ffprobeVersion] = yield* Effect.all([verify("ffmpeg", ffmpeg), verify("ffprobe", ffprobe)], {
      concurrency: 2
    })
    yield* Effect.logDebug("ffmpeg ready").pipe(Effect.annotateLogs({ ffmpeg: ffmpegVersion, ffprobe: ffprobeVersion }))
    const binaries: Binaries = { ffmpeg: ffmpeg.path, ffprobe: ffprobe.path }
    return {
      binaries,
      /** Describes an upload; NotAudio → 415, Undecodable → 422. */
      probe: probeWith(ffprobe.path),
      /** One ffmpeg process for the whole ladder and the peaks; interrupting it kills the process group. */
      transcode: transcodeWith(binaries)
    } as const
  })
}) {}

export const FFmpegLive = FFmpeg.Default
