import { Either } from "effect"

/** The codec string of AAC-LC, the only codec the transcoder produces. */
export const AAC_LC_CODECS = "mp4a.40.2"

export interface MediaSegment {
  readonly uri: string
  readonly durationSeconds: number
}

export interface MediaPlaylist {
  readonly targetDurationSeconds: number
  readonly playlistType: string | null
  readonly endList: boolean
  /** The EXT-X-MAP URI (the fMP4 init section), when there is one. */
  readonly mapUri: string | null
  readonly segments: ReadonlyArray<MediaSegment>
}

const uriAttribute = /URI="([^"]*)"/

/** Reads the parts of a media playlist that publishing and bandwidth need; refuses what is not one. */
export const parseMediaPlaylist = (text: string): Either.Either<MediaPlaylist, string> => {
  const lines = text.split(/\r?\n/).map((line) => line.trim())
  if (lines[0] !== "#EXTM3U") return Either.left("not an M3U8 playlist (no #EXTM3U)")
  let targetDurationSeconds = Number.NaN
  let playlistType: string | null = null
  let endList = false
  let mapUri: string | null = null
  let pendingDuration: number | null = null
  const segments: Array<MediaSegment> = []
  for (const line of lines.slice(1)) {
    if (line === "") continue
    if (line.startsWith("#EXT-X-TARGETDURATION:")) {
      targetDurationSeconds = Number(line.slice("#EXT-X-TARGETDURATION:".length))
    } else if (line.startsWith("#EXT-X-PLAYLIST-TYPE:")) {
      playlistType = line.slice("#EXT-X-PLAYLIST-TYPE:".length)
    } else if (line === "#EXT-X-ENDLIST") {
      endList = true
    } else if (line.startsWith("#EXT-X-MAP:")) {
      mapUri = uriAttribute.exec(line)?.[1] ?? null
    } else if (line.startsWith("#EXTINF:")) {
      pendingDuration = Number(line.slice("#EXTINF:".length).split(",")[0])
      if (!Number.isFinite(pendingDuration) || pendingDuration < 0) return Either.left(`bad EXTINF line: ${line}`)
    } else if (!line.startsWith("#")) {
      if (pendingDuration === null) return Either.left(`segment ${line} has no EXTINF`)
      segments.push({ uri: line, durationSeconds: pendingDuration })
      pendingDuration = null
    }
  }
  if (!Number.isFinite(targetDurationSeconds) || targetDurationSeconds <= 0) {
    return Either.left("missing or bad EXT-X-TARGETDURATION")
  }
  return Either.right({ targetDurationSeconds, playlistType, endList, mapUri, segments })
}

export interface SizedSegment {
  readonly bytes: number
  readonly durationSeconds: number
}

/**
 * The peak segment bit rate as RFC 8216bis defines it for BANDWIDTH: the
 * highest rate of any run of consecutive segments lasting 0.5–1.5 target
 * durations. Taking single segments instead would let the one-frame tail
 * segment the muxer often leaves (a ~100 byte moof over 23 ms) set the peak.
 */
export const peakBitRate = (segments: ReadonlyArray<SizedSegment>, targetDurationSeconds: number): number => {
  let peak = 0
  for (let i = 0; i < segments.length; i++) {
    let seconds = 0
    let bytes = 0
    for (let j = i; j < segments.length; j++) {
      seconds += segments[j]!.durationSeconds
      bytes += segments[j]!.bytes
      if (j > i && seconds > 1.5 * targetDurationSeconds) break
      if (seconds >= 0.5 * targetDurationSeconds && seconds > 0) peak = Math.max(peak, (bytes * 8) / seconds)
    }
  }
  // A whole track shorter than half a target duration has no such run.
  return Math.ceil(peak > 0 ? peak : averageBitRate(segments))
}

export const averageBitRate = (segments: ReadonlyArray<SizedSegment>): number => {
  const seconds = segments.reduce((sum, s) => sum + s.durationSeconds, 0)
  const bytes = segments.reduce((sum, s) => sum + s.bytes, 0)
  return seconds > 0 ? Math.ceil((bytes * 8) / seconds) : 0
}

export interface VariantStream {
  /** The media playlist, relative to the master playlist (e.g. `128k/playlist.m3u8`). */
  readonly playlist: string
  readonly bandwidth: number
  readonly averageBandwidth: number
  readonly codecs: string
}

/**
 * The master playlist, lowest bandwidth first. Written here rather than by
 * ffmpeg: the bundled build crashes on `-master_pl_name`, and writing it is
 * the publish step anyway.
 */
export const masterPlaylist = (
  renditions: ReadonlyArray<VariantStream>,
  options?: { readonly uriFor?: (relative: string) => string }
): string => {
  const uriFor = options?.uriFor ?? ((relative: string) => relative)
  const lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
  for (const r of [...renditions].sort((a, b) => a.bandwidth - b.bandwidth)) {
    lines.push(
      `#EXT-X-STREAM-INF:BANDWIDTH=${Math.ceil(r.bandwidth)},AVERAGE-BANDWIDTH=${Math.ceil(r.averageBandwidth)},CODECS="${r.codecs}"`,
      uriFor(r.playlist)
    )
  }
  return lines.join("\n") + "\n"
}

const uriAttributes = /([:,])URI="([^"]*)"/g

/**
 * Rewrites every URI of a playlist — the URI lines and the `URI="…"`
 * attributes of tags such as EXT-X-MAP — leaving everything else byte for byte.
 */
export const rewritePlaylistUris = (text: string, map: (uri: string) => string): string =>
  text
    .split("\n")
    .map((raw) => {
      const cr = raw.endsWith("\r") ? "\r" : ""
      const line = cr === "" ? raw : raw.slice(0, -1)
      const trimmed = line.trim()
      if (trimmed === "") return raw
      if (trimmed.startsWith("#EXT")) {
        return line.replace(uriAttributes, (_, before: string, uri: string) => `${before}URI="${map(uri)}"`) + cr
      }
      if (trimmed.startsWith("#")) return raw
      return map(trimmed) + cr
    })
    .join("\n")
