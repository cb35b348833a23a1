import { execFile } from "node:child_process"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import { createRequire } from "node:module"
import * as NodePath from "node:path"
import { promisify } from "node:util"

const run = promisify(execFile)
const requireHere = createRequire(import.meta.url)

/** The bundled binaries, unless FFMPEG_PATH / FFPROBE_PATH point elsewhere (as for the app). */
export const ffmpegBinary = (): string =>
  process.env["FFMPEG_PATH"] || (requireHere("@ffmpeg-installer/ffmpeg") as { path: string }).path
export const ffprobeBinary = (): string =>
  process.env["FFPROBE_PATH"] || (requireHere("@ffprobe-installer/ffprobe") as { path: string }).path

export type AudioFormat = "mp3" | "wav" | "flac" | "m4a" | "aac" | "ogg"

export interface AudioSpec {
  /** Default `sine`. */
  readonly kind?: "sine" | "noise" | "silence"
  readonly seconds: number
  readonly format: AudioFormat
  /** File name inside the directory; default `<kind>-<seconds>s-<random>.<format>`. */
  readonly name?: string
  /** Default 2; every channel carries the same signal. */
  readonly channels?: number
  /** Default 44100. */
  readonly sampleRate?: number
  /** Sine frequency in Hz, default 440. */
  readonly frequency?: number
  /** Peak amplitude as a fraction of full scale, default 0.5. */
  readonly amplitude?: number
}

export interface NonAudioSpec {
  /** A PNG, an mp4 with a video stream and no audio, or plain text. */
  readonly kind: "image" | "video" | "text"
  readonly name?: string
  /** Length of the video, default 2. */
  readonly seconds?: number
}

const codecArgs: Record<AudioFormat, ReadonlyArray<string>> = {
  mp3: ["-c:a", "libmp3lame", "-b:a", "128k"],
  wav: ["-c:a", "pcm_s16le"],
  flac: ["-c:a", "flac"],
  m4a: ["-c:a", "aac", "-b:a", "128k"],
  aac: ["-c:a", "aac", "-b:a", "128k", "-f", "adts"],
  ogg: ["-c:a", "libvorbis", "-q:a", "4"]
}

const isNonAudio = (spec: AudioSpec | NonAudioSpec): spec is NonAudioSpec =>
  spec.kind === "image" || spec.kind === "video" || spec.kind === "text"

const randomName = (stem: string, ext: string) => `${stem}-${NodeCrypto.randomBytes(4).toString("hex")}.${ext}`

/** The lavfi source and filters for one mono signal, then copied to every channel. */
const audioSource = (spec: AudioSpec) => {
  const rate = spec.sampleRate ?? 44100
  const amplitude = spec.amplitude ?? 0.5
  const channels = spec.channels ?? 2
  const source =
    spec.kind === "noise"
      ? `anoisesrc=color=pink:amplitude=${amplitude}:sample_rate=${rate}:duration=${spec.seconds}:seed=42`
      : spec.kind === "silence"
        ? `anullsrc=channel_layout=mono:sample_rate=${rate}`
        : // lavfi's sine is fixed at 1/8 of full scale.
          `sine=frequency=${spec.frequency ?? 440}:sample_rate=${rate}:duration=${spec.seconds},volume=${amplitude * 8}`
  // pan copies the channel exactly; -ac would mix mono up at -3 dB.
  const layout = channels === 1 ? "mono" : channels === 2 ? "stereo" : channels === 6 ? "5.1" : `${channels}c`
  const copies = Array.from({ length: channels }, (_, i) => `c${i}=c0`).join("|")
  return `${source},pan=${layout}|${copies}`
}

/**
 * Makes a test file in `dir` with the bundled ffmpeg and returns its path:
 * audio of a given length and format (sine, pink noise or silence), or a
 * non-audio file (PNG, silent video, text).
 */
export const generateAudio = async (dir: string, spec: AudioSpec | NonAudioSpec): Promise<string> => {
  NodeFs.mkdirSync(dir, { recursive: true })
  const ffmpeg = ffmpegBinary()
  if (isNonAudio(spec)) {
    const path = NodePath.join(dir, spec.name ?? randomName(spec.kind, { image: "png", video: "mp4", text: "txt" }[spec.kind]))
    if (spec.kind === "text") {
      NodeFs.writeFileSync(path, "Liner notes: not a sound in here.\n".repeat(100))
    } else if (spec.kind === "image") {
      await run(ffmpeg, ["-v", "error", "-y", "-f", "lavfi", "-i", "color=c=teal:s=64x64", "-frames:v", "1", "-f", "image2", path])
    } else {
      await run(ffmpeg, [
        "-v", "error", "-y", "-f", "lavfi", "-i", `testsrc=size=160x120:rate=10:duration=${spec.seconds ?? 2}`,
        "-an", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-f", "mp4", path
      ])
    }
    return path
  }
  const path = NodePath.join(dir, spec.name ?? randomName(`${spec.kind ?? "sine"}-${spec.seconds}s`, spec.format))
  await run(ffmpeg, [
    "-v", "error", "-y", "-f", "lavfi", "-i", audioSource(spec),
    "-t", String(spec.seconds),
    ...codecArgs[spec.format],
    path
  ])
  return path
}

/** A copy of `source` cut to the first `fraction` of its bytes (an interrupted upload). */
export const truncatedCopy = (source: string, target: string, fraction: number): string => {
  const bytes = NodeFs.readFileSync(source)
  NodeFs.writeFileSync(target, bytes.subarray(0, Math.floor(bytes.length * fraction)))
  return target
}

/** Random bytes under whatever name is given (e.g. `garbage.mp3`). */
/** Noise-like bytes that are the same on every run (SHA-256 in counter mode), so a test's verdict on them is too. */
export const garbageFile = (path: string, bytes = 100_000): string => {
  const blocks = Array.from({ length: Math.ceil(bytes / 32) }, (_, i) => NodeCrypto.createHash("sha256").update(`veza-garbage-${i}`).digest())
  NodeFs.writeFileSync(path, Buffer.concat(blocks).subarray(0, bytes))
  return path
}

/** A copy whose header survives but whose body after `keepBytes` is overwritten with junk. */
export const corruptedCopy = (source: string, target: string, keepBytes = 200, junkBytes = 4000): string => {
  const bytes = NodeFs.readFileSync(source)
  NodeFs.writeFileSync(target, Buffer.concat([bytes.subarray(0, keepBytes), Buffer.alloc(junkBytes, 0x5a)]))
  return target
}

/** What ffprobe says about a file's streams and format (for assertions on outputs). */
export const ffprobeJson = async (path: string): Promise<{ streams: Array<Record<string, any>>; format: Record<string, any> }> => {
  const { stdout } = await run(ffprobeBinary(), ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", path], {
    maxBuffer: 16 * 1024 * 1024
  })
  return JSON.parse(stdout)
}
