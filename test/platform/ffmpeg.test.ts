import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { Cause, ConfigProvider, Effect, Either, Exit, Fiber, Layer, ManagedRuntime } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  FFmpeg,
  FFmpegLive,
  masterPlaylist,
  PEAK_COUNT,
  type Probe,
  rewritePlaylistUris,
  type TranscodeOptions,
  type TranscodeResult
} from "../../src/platform/ffmpeg.js"
import { parseMediaPlaylist, peakBitRate } from "../../src/platform/hls-playlists.js"
import { corruptedCopy, ffprobeJson, garbageFile, generateAudio, truncatedCopy } from "../support/audio.js"

const work = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "veza-ffmpeg-"))
const runtime = ManagedRuntime.make(FFmpegLive)
let ffmpeg: FFmpeg

beforeAll(async () => {
  ffmpeg = await runtime.runPromise(FFmpeg)
})

afterAll(async () => {
  await runtime.dispose()
  NodeFs.rmSync(work, { recursive: true, force: true })
})

const probe = (path: string) => runtime.runPromise(Effect.either(ffmpeg.probe(path)))

const freshDir = (name: string) => NodeFs.mkdtempSync(NodePath.join(work, `${name}-`))

const transcode = (input: string, overrides: Partial<TranscodeOptions> = {}) => {
  const progress: Array<number> = []
  const outputDir = overrides.outputDir ?? freshDir("out")
  return runtime
    .runPromise(
      Effect.either(
        ffmpeg.transcode({
          input,
          outputDir,
          ladderKbps: [64, 128, 256],
          segmentSeconds: 2,
          durationMs: 20_000,
          sourceChannels: 2,
          onProgress: (percent) => Effect.sync(() => progress.push(percent)),
          ...overrides
        })
      )
    )
    .then((result) => ({ result, progress, outputDir }))
}

const succeeded = <A, E>(either: Either.Either<A, E>): A => {
  if (either._tag === "Left") throw new Error(`expected success, got ${JSON.stringify(either.left)}`)
  return either.right
}

/** Command lines of live processes that mention `marker` (the test's own process excluded). */
const processesMentioning = (marker: string) =>
  NodeFs.readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry) && Number(entry) !== process.pid)
    .flatMap((pid) => {
      try {
        const cmdline = NodeFs.readFileSync(`/proc/${pid}/cmdline`, "utf8")
        return cmdline.includes(marker) ? [`${pid}: ${cmdline.split("\0").join(" ").slice(0, 200)}`] : []
      } catch {
        return []
      }
    })

describe("probe", () => {
  it.each([
    { format: "mp3", sampleRate: 44100, channels: 2, codec: "mp3", formatName: "mp3" },
    { format: "wav", sampleRate: 22050, channels: 1, codec: "pcm_s16le", formatName: "wav" },
    { format: "flac", sampleRate: 48000, channels: 2, codec: "flac", formatName: "flac" },
    { format: "m4a", sampleRate: 44100, channels: 2, codec: "aac", formatName: "mov,mp4,m4a,3gp,3g2,mj2" },
    { format: "ogg", sampleRate: 48000, channels: 1, codec: "vorbis", formatName: "ogg" }
  ] as const)("describes $format: duration, codec, rate, channels", async (c) => {
    const path = await generateAudio(work, { seconds: 7, format: c.format, sampleRate: c.sampleRate, channels: c.channels })
    const described = succeeded(await probe(path))
    expect(described).toMatchObject({ codec: c.codec, sampleRate: c.sampleRate, channels: c.channels, formatName: c.formatName })
    expect(Math.abs(described.durationMs - 7000)).toBeLessThanOrEqual(50)
    expect(described.sizeBytes).toBe(NodeFs.statSync(path).size)
    expect(described.bitRate).toBeGreaterThan(0)
  })

  it.each([
    ["a text file", () => generateAudio(work, { kind: "text", name: "notes.txt" })],
    [
      "text named .mp3 (uploads are stored without their name)",
      async () => {
        const path = NodePath.join(work, "notes.mp3")
        NodeFs.writeFileSync(path, "these are not the droids you are looking for\n".repeat(200))
        return path
      }
    ],
    ["a PNG", () => generateAudio(work, { kind: "image", name: "cover.png" })],
    ["an mp4 with video and no audio", () => generateAudio(work, { kind: "video", name: "silent-film.mp4" })]
  ])("%s is NotAudio", async (_, make) => {
    const result = await probe(await make())
    expect(result._tag).toBe("Left")
    if (result._tag === "Left") expect(result.left._tag).toBe("NotAudio")
  })

  describe("broken audio is Undecodable, with a short reason", () => {
    let mp3: string
    let flac: string
    let m4a: string
    beforeAll(async () => {
      ;[mp3, flac, m4a] = await Promise.all([
        generateAudio(work, { seconds: 60, format: "mp3" }),
        generateAudio(work, { seconds: 60, format: "flac" }),
        generateAudio(work, { seconds: 30, format: "m4a" })
      ])
    })
    const cases: ReadonlyArray<[string, () => string, RegExp]> = [
      ["an mp3 cut at 40% (headers still claim 60 s)", () => truncatedCopy(mp3, NodePath.join(work, "cut.mp3"), 0.4), /truncated/],
      ["the same cut mp3 stored without a name", () => truncatedCopy(mp3, NodePath.join(work, "original"), 0.4), /truncated/],
      ["a flac cut in half", () => truncatedCopy(flac, NodePath.join(work, "cut.flac"), 0.5), /truncated/],
      ["an m4a cut before its index", () => truncatedCopy(m4a, NodePath.join(work, "cut.m4a"), 0.5), /moov atom not found/],
      ["a flac header followed by junk", () => corruptedCopy(flac, NodePath.join(work, "junk.flac")), /./],
      // Noise can hold what looks like MP3 frame headers: refused either as not audio or as undecodable, never accepted.
      ["random bytes named .mp3", () => garbageFile(NodePath.join(work, "garbage.mp3")), /./],
      ["an empty file", () => garbageFile(NodePath.join(work, "empty.wav"), 0), /empty/]
    ]
    it.each(cases)("%s", async (name, make, reason) => {
      const result = await probe(make())
      expect(result._tag).toBe("Left")
      if (result._tag !== "Left") return
      expect(result.left._tag === "Undecodable" || (name.startsWith("random") && result.left._tag === "NotAudio")).toBe(true)
      expect(result.left.reason).toMatch(reason)
      expect(result.left.reason.length).toBeLessThanOrEqual(300)
      expect(result.left.reason).not.toContain(work)
      expect(result.left.reason).not.toMatch(/\n|\bat \S+ \(/)
    })
  })

  it("stays cheap on a five-minute mp3 (headers plus two short decodes)", async () => {
    const path = await generateAudio(work, { seconds: 300, format: "mp3", channels: 1, sampleRate: 22050 })
    const timings: Array<number> = []
    let described: Probe | undefined
    for (let i = 0; i < 5; i++) {
      const started = performance.now()
      described = succeeded(await probe(path))
      timings.push(performance.now() - started)
    }
    expect(Math.abs(described!.durationMs - 300_000)).toBeLessThanOrEqual(100)
    // ~25 ms here; the bound only catches an accidental full decode on a busy machine.
    expect(timings.sort((a, b) => a - b)[2]).toBeLessThan(250)
  }, 60_000)
})

describe("transcode", () => {
  let sine: string
  let sineRun: Awaited<ReturnType<typeof transcode>>
  let sineResult: TranscodeResult

  beforeAll(async () => {
    // 48 kHz in, so the resampling to the ladder's 44.1 kHz is exercised too.
    sine = await generateAudio(work, { seconds: 20, format: "flac", sampleRate: 48000, amplitude: 0.5 })
    sineRun = await transcode(sine)
    sineResult = succeeded(sineRun.result)
  })

  it("writes one complete fMP4 VOD rendition per rung, from one ffmpeg run", async () => {
    expect(sineResult.renditions.map((r) => [r.kbps, r.directory, r.playlist, r.codecs])).toEqual([
      [64, "64k", "64k/playlist.m3u8", "mp4a.40.2"],
      [128, "128k", "128k/playlist.m3u8", "mp4a.40.2"],
      [256, "256k", "256k/playlist.m3u8", "mp4a.40.2"]
    ])
    expect(Math.abs(sineResult.durationMs - 20_000)).toBeLessThanOrEqual(50)
    for (const rendition of sineResult.renditions) {
      const dir = NodePath.join(sineRun.outputDir, rendition.directory)
      const text = NodeFs.readFileSync(NodePath.join(sineRun.outputDir, rendition.playlist), "utf8")
      expect(text).toContain("#EXT-X-PLAYLIST-TYPE:VOD")
      expect(text).toContain("#EXT-X-TARGETDURATION:2")
      expect(text).toContain('#EXT-X-MAP:URI="init.mp4"')
      expect(text.trimEnd().endsWith("#EXT-X-ENDLIST")).toBe(true)
      const playlist = parseMediaPlaylist(text)
      if (playlist._tag === "Left") throw new Error(playlist.left)
      const segments = playlist.right.segments
      expect(segments.length).toBe(rendition.segmentCount)
      expect(segments.length).toBeGreaterThanOrEqual(10)
      expect(segments[0]!.uri).toBe("seg_00000.m4s")
      const total = segments.reduce((sum, s) => sum + s.durationSeconds, 0)
      expect(Math.abs(total - 20)).toBeLessThan(0.1)
      for (const s of segments) expect(NodeFs.existsSync(NodePath.join(dir, s.uri))).toBe(true)
      expect(rendition.bandwidth).toBeGreaterThanOrEqual(rendition.averageBandwidth)
      expect(rendition.averageBandwidth).toBeGreaterThan(0)

      // What a player gets: the init section followed by the segments.
      const joined = NodePath.join(work, `joined-${rendition.kbps}-${NodePath.basename(sineRun.outputDir)}.mp4`)
      NodeFs.writeFileSync(joined, Buffer.concat([init(dir), ...segments.map((s) => NodeFs.readFileSync(NodePath.join(dir, s.uri)))]))
      const described = await ffprobeJson(joined)
      expect(described.streams).toHaveLength(1)
      expect(described.streams[0]).toMatchObject({ codec_name: "aac", profile: "LC", sample_rate: "44100", channels: 2 })
      expect(Math.abs(Number(described.format["duration"]) - 20)).toBeLessThan(0.1)
    }
  })

  it("measures the waveform from the same decode: PEAK_COUNT values in 0..1", () => {
    expect(sineResult.peaks).toHaveLength(PEAK_COUNT)
    expect(sineResult.peaks.every((p) => p >= 0 && p <= 1)).toBe(true)
    // A sine at half of full scale peaks at 0.5 in every bucket.
    for (const p of sineResult.peaks) expect(Math.abs(p - 0.5)).toBeLessThanOrEqual(0.01)
  })

  it("reports increasing whole percentages ending at 100", () => {
    const progress = sineRun.progress
    expect(progress.length).toBeGreaterThanOrEqual(2)
    expect(progress.every((p, i) => Number.isInteger(p) && (i === 0 || p > progress[i - 1]!))).toBe(true)
    expect(progress.at(-1)).toBe(100)
    expect(progress.slice(0, -1).every((p) => p >= 0 && p < 100)).toBe(true)
  })

  it("gives each rung about its bit rate on demanding audio, and the master playlist lists them", async () => {
    const noise = await generateAudio(work, { kind: "noise", seconds: 12, format: "flac", amplitude: 0.3 })
    const { result, outputDir } = await transcode(noise, { durationMs: 12_000, segmentSeconds: 4 })
    const renditions = succeeded(result).renditions
    for (const r of renditions) {
      // The encoder's rate control plus a little fMP4 overhead.
      expect(r.averageBandwidth / (r.kbps * 1000)).toBeGreaterThan(0.85)
      expect(r.averageBandwidth / (r.kbps * 1000)).toBeLessThan(1.15)
      const dir = NodePath.join(outputDir, r.directory)
      const playlist = parseMediaPlaylist(NodeFs.readFileSync(NodePath.join(dir, "playlist.m3u8"), "utf8"))
      if (playlist._tag === "Left") throw new Error(playlist.left)
      const sized = playlist.right.segments.map((s) => ({
        durationSeconds: s.durationSeconds,
        bytes: NodeFs.statSync(NodePath.join(dir, s.uri)).size
      }))
      expect(r.bandwidth).toBe(peakBitRate(sized, 4))
    }
    const [low, mid, high] = renditions
    expect(masterPlaylist([high!, low!, mid!])).toBe(
      [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        `#EXT-X-STREAM-INF:BANDWIDTH=${low!.bandwidth},AVERAGE-BANDWIDTH=${low!.averageBandwidth},CODECS="mp4a.40.2"`,
        "64k/playlist.m3u8",
        `#EXT-X-STREAM-INF:BANDWIDTH=${mid!.bandwidth},AVERAGE-BANDWIDTH=${mid!.averageBandwidth},CODECS="mp4a.40.2"`,
        "128k/playlist.m3u8",
        `#EXT-X-STREAM-INF:BANDWIDTH=${high!.bandwidth},AVERAGE-BANDWIDTH=${high!.averageBandwidth},CODECS="mp4a.40.2"`,
        "256k/playlist.m3u8",
        ""
      ].join("\n")
    )
  })

  it("sees a single-sample click in one channel: its bucket peaks, the rest stays flat", async () => {
    // Silence with one sample at 0.9 of full scale, written as 16-bit WAV: the
    // waveform must find it wherever it falls in a block, whatever the channel count.
    for (const channels of [2, 1]) {
      const frames = 44_100 * 7
      const clickFrame = Math.floor((600.5 / PEAK_COUNT) * frames) | 1
      const pcm = Buffer.alloc(frames * channels * 2)
      pcm.writeInt16LE(Math.round(0.9 * 32767), (clickFrame * channels + channels - 1) * 2)
      const header = Buffer.alloc(44)
      header.write("RIFF", 0, "latin1")
      header.writeUInt32LE(36 + pcm.length, 4)
      header.write("WAVEfmt ", 8, "latin1")
      header.writeUInt32LE(16, 16)
      header.writeUInt16LE(1, 20)
      header.writeUInt16LE(channels, 22)
      header.writeUInt32LE(44_100, 24)
      header.writeUInt32LE(44_100 * channels * 2, 28)
      header.writeUInt16LE(channels * 2, 32)
      header.writeUInt16LE(16, 34)
      header.write("data", 36, "latin1")
      header.writeUInt32LE(pcm.length, 40)
      const click = NodePath.join(work, `click-${channels}ch.wav`)
      NodeFs.writeFileSync(click, Buffer.concat([header, pcm]))
      const { result } = await transcode(click, { durationMs: 7000, ladderKbps: [64], sourceChannels: channels })
      const { peaks, durationMs } = succeeded(result)
      expect(durationMs).toBe(7000)
      expect(Math.abs(peaks[600]! - 0.9)).toBeLessThanOrEqual(0.01)
      expect(peaks.filter((p, i) => i !== 600 && p > 0.001)).toEqual([])
    }
  })

  it("keeps silence flat", async () => {
    const silence = await generateAudio(work, { kind: "silence", seconds: 5, format: "wav" })
    const { result } = await transcode(silence, { durationMs: 5000, ladderKbps: [64] })
    const peaks = succeeded(result).peaks
    expect(peaks).toHaveLength(PEAK_COUNT)
    expect(peaks.every((p) => p <= 0.001)).toBe(true)
  })

  it("mixes surround down to stereo and keeps mono mono, on every rung", async () => {
    for (const [channels, expected] of [[6, 2], [1, 1]] as const) {
      const input = await generateAudio(work, { seconds: 3, format: "flac", channels })
      const { result, outputDir } = await transcode(input, { durationMs: 3000, ladderKbps: [64, 128], sourceChannels: channels })
      for (const r of succeeded(result).renditions) {
        const dir = NodePath.join(outputDir, r.directory)
        const joined = NodePath.join(dir, "joined.mp4")
        NodeFs.writeFileSync(joined, Buffer.concat([init(dir), NodeFs.readFileSync(NodePath.join(dir, "seg_00000.m4s"))]))
        expect((await ffprobeJson(joined)).streams[0]).toMatchObject({ channels: expected, sample_rate: "44100" })
      }
    }
  })

  it("is killed with its whole process group when interrupted, and returns promptly", async () => {
    const long = await generateAudio(work, { seconds: 600, format: "flac" })
    const outputDir = freshDir("interrupted")
    let firstProgress!: () => void
    const started = new Promise<void>((resolve) => (firstProgress = resolve))
    const fiber = runtime.runFork(
      ffmpeg.transcode({
        input: long,
        outputDir,
        ladderKbps: [64, 128, 256],
        segmentSeconds: 6,
        durationMs: 600_000,
        sourceChannels: 2,
        onProgress: () => Effect.sync(() => firstProgress())
      })
    )
    await started
    expect(processesMentioning(outputDir)).toHaveLength(1)
    const before = performance.now()
    const exit = await runtime.runPromise(Fiber.interrupt(fiber))
    expect(performance.now() - before).toBeLessThan(2000)
    expect(Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)).toBe(true)
    expect(processesMentioning(outputDir)).toEqual([])
  }, 60_000)

  it("a wrapper script's ffmpeg dies with it: the whole group is killed", async () => {
    // sh without exec keeps ffmpeg as its child: killing only the pid would orphan it.
    const wrapper = NodePath.join(work, "ffmpeg-wrapper.sh")
    NodeFs.writeFileSync(wrapper, `#!/bin/sh\n"${ffmpeg.binaries.ffmpeg}" "$@"\n`, { mode: 0o755 })
    const wrapped = ManagedRuntime.make(
      FFmpegLive.pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["FFMPEG_PATH", wrapper]])))))
    )
    try {
      const service = await wrapped.runPromise(FFmpeg)
      const long = await generateAudio(work, { seconds: 300, format: "flac" })
      const outputDir = freshDir("wrapped")
      let firstProgress!: () => void
      const started = new Promise<void>((resolve) => (firstProgress = resolve))
      const fiber = wrapped.runFork(
        service.transcode({
          input: long,
          outputDir,
          ladderKbps: [64],
          segmentSeconds: 6,
          durationMs: 300_000,
          sourceChannels: 2,
          onProgress: () => Effect.sync(() => firstProgress())
        })
      )
      await started
      expect(processesMentioning(outputDir)).toHaveLength(2)
      await wrapped.runPromise(Fiber.interrupt(fiber))
      // The grandchild is not ours to reap: give init a moment.
      await new Promise((r) => setTimeout(r, 200))
      expect(processesMentioning(outputDir)).toEqual([])
    } finally {
      await wrapped.dispose()
    }
  }, 60_000)

  it("fails with TranscodeFailed when the input is gone", async () => {
    const input = await generateAudio(work, { seconds: 3, format: "mp3" })
    NodeFs.rmSync(input)
    const { result } = await transcode(input, { durationMs: 3000 })
    expect(result._tag === "Left" && result.left._tag).toBe("TranscodeFailed")
    if (result._tag !== "Left") return
    expect(result.left.reason).toMatch(/No such file or directory/)
    expect(result.left.stderr).toContain("No such file or directory")
  })

  it("fails with TranscodeFailed and the tail of ffmpeg's stderr when ffmpeg exits non-zero", async () => {
    const outputDir = freshDir("unwritable")
    // The init section's path is taken by a directory, so the muxer cannot open it.
    NodeFs.mkdirSync(NodePath.join(outputDir, "64k", "init.mp4"), { recursive: true })
    const { result } = await transcode(sine, { outputDir, durationMs: 20_000 })
    expect(result._tag === "Left" && result.left._tag).toBe("TranscodeFailed")
    if (result._tag !== "Left") return
    expect(result.left.reason).toMatch(/^ffmpeg exited with code 1: /)
    expect(result.left.reason).not.toContain("Cannot use rename")
    expect(result.left.stderr).toMatch(/init\.mp4/)
    expect(result.left.stderr.length).toBeLessThanOrEqual(4096)
  })

  it("fails when ffmpeg decodes much less than the probed duration (it skips what it cannot decode)", async () => {
    const flac = await generateAudio(work, { seconds: 60, format: "flac" })
    const broken = corruptedCopy(flac, NodePath.join(work, "mostly-junk.flac"), 16_384, 400_000)
    const { result } = await transcode(broken, { durationMs: 60_000 })
    expect(result._tag === "Left" && result.left.reason).toMatch(/decoded only \d+\.\d s of the 60\.0 s/)
  })

  it("fails with TranscodeFailed on garbage, and on options it cannot honour", async () => {
    const { result } = await transcode(garbageFile(NodePath.join(work, "noise.mp3")), { durationMs: 3000 })
    expect(result._tag === "Left" && result.left._tag).toBe("TranscodeFailed")
    const empty = await transcode(sine, { ladderKbps: [] })
    expect(empty.result._tag === "Left" && empty.result.left.reason).toMatch(/ladder is empty/)
    const noChannels = await transcode(sine, { sourceChannels: 0 })
    expect(noChannels.result._tag === "Left" && noChannels.result.left.reason).toMatch(/bad channel count 0/)
  })
})

const init = (dir: string) => NodeFs.readFileSync(NodePath.join(dir, "init.mp4"))

describe("binaries", () => {
  const build = (settings: Record<string, string>) =>
    Effect.runPromiseExit(
      Layer.build(FFmpegLive).pipe(Effect.scoped, Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(settings)))))
    )

  it("refuses to start when FFMPEG_PATH does not run, naming the variable and the path", async () => {
    const exit = await build({ FFMPEG_PATH: "/nonexistent/ffmpeg" })
    expect(Exit.isFailure(exit)).toBe(true)
    if (Exit.isSuccess(exit)) return
    const error = Cause.failureOption(exit.cause)
    expect(error._tag === "Some" && error.value._tag).toBe("FFmpegUnavailable")
    expect(error._tag === "Some" && error.value.message).toMatch(/^ffmpeg at \/nonexistent\/ffmpeg \(from FFMPEG_PATH\) does not run: .*ENOENT/)
  })

  it("refuses a binary that runs but is not ffprobe", async () => {
    const exit = await build({ FFPROBE_PATH: "/bin/true" })
    const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : undefined
    expect(error?._tag === "Some" && error.value.message).toMatch(/ffprobe at \/bin\/true \(from FFPROBE_PATH\) does not run/)
  })

  it("treats an empty FFMPEG_PATH as unset", async () => {
    expect(Exit.isSuccess(await build({ FFMPEG_PATH: "", FFPROBE_PATH: " " }))).toBe(true)
  })
})

describe("playlists (pure)", () => {
  it("rewrites every URI line and URI attribute, and nothing else", () => {
    const media = [
      "#EXTM3U",
      "#EXT-X-VERSION:7",
      "#EXT-X-TARGETDURATION:6",
      '#EXT-X-MAP:URI="init.mp4"',
      "#EXTINF:6.000000,",
      "seg_00000.m4s",
      "# a comment with URI=\"x\"",
      "#EXTINF:2.5,",
      "seg_00001.m4s",
      "#EXT-X-ENDLIST",
      ""
    ].join("\r\n")
    const signed = rewritePlaylistUris(media, (uri) => `${uri}?sig=abc`)
    expect(signed).toBe(
      media
        .replace('URI="init.mp4"', 'URI="init.mp4?sig=abc"')
        .replace("seg_00000.m4s", "seg_00000.m4s?sig=abc")
        .replace("seg_00001.m4s", "seg_00001.m4s?sig=abc")
    )
    const master = masterPlaylist(
      [
        { playlist: "256k/playlist.m3u8", bandwidth: 280_000, averageBandwidth: 260_000, codecs: "mp4a.40.2" },
        { playlist: "64k/playlist.m3u8", bandwidth: 70_000, averageBandwidth: 66_000, codecs: "mp4a.40.2" }
      ],
      { uriFor: (relative) => `a1/${relative}` }
    )
    expect(master).toBe(
      "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n" +
        '#EXT-X-STREAM-INF:BANDWIDTH=70000,AVERAGE-BANDWIDTH=66000,CODECS="mp4a.40.2"\na1/64k/playlist.m3u8\n' +
        '#EXT-X-STREAM-INF:BANDWIDTH=280000,AVERAGE-BANDWIDTH=260000,CODECS="mp4a.40.2"\na1/256k/playlist.m3u8\n'
    )
    expect(rewritePlaylistUris(master, (uri) => `/hls/t/${uri}`)).toContain("\n/hls/t/a1/64k/playlist.m3u8\n")
  })

  it("takes BANDWIDTH from runs of 0.5–1.5 target durations, so a one-frame tail segment does not set it", () => {
    const segments = [
      { durationSeconds: 6, bytes: 96_000 },
      { durationSeconds: 6, bytes: 102_000 },
      { durationSeconds: 0.023, bytes: 900 }
    ]
    // The best run is the second segment plus the tail, not the tail alone (313 kbit/s).
    expect(peakBitRate(segments, 6)).toBe(Math.ceil(((102_000 + 900) * 8) / 6.023))
    // A track shorter than half a target duration falls back to its average.
    expect(peakBitRate([{ durationSeconds: 1, bytes: 10_000 }], 6)).toBe(80_000)
  })
})
