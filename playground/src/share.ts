// The URL holds the source (lz-string, URL-safe), so a link shares a model.
import LZString from "lz-string";

const PREFIX = "#code=";

/** The source in the page's URL, or null when there is none or it does not decode. */
export function sourceFromUrl(): string | null {
  if (!location.hash.startsWith(PREFIX)) return null;
  try {
    return LZString.decompressFromEncodedURIComponent(location.hash.slice(PREFIX.length)) || null;
  } catch {
    return null; // a truncated or hand-edited link
  }
}

/** Puts `source` in the URL without adding a history entry per keystroke. */
export function sourceToUrl(source: string): void {
  history.replaceState(null, "", PREFIX + LZString.compressToEncodedURIComponent(source));
}
