/** RFC 6266 `Content-Disposition` for a download: an ASCII fallback name and the exact one, percent-encoded. */
export const attachmentDisposition = (filename: string) =>
  `attachment; filename="${filename.replace(/[^\x20-\x7e]|["\\]/g, "_")}"; filename*=UTF-8''${encodeURIComponent(filename)}`
