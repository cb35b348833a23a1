/** Drawn, not typed: media-control characters are missing from many system fonts. */
const Svg = ({ d }: { d: string }) => (
  <svg viewBox="0 0 24 24" width="1em" height="1em" aria-hidden="true" focusable="false" fill="currentColor">
    <path d={d} />
  </svg>
)

export const PlayIcon = () => <Svg d="M7 4.5v15a1 1 0 0 0 1.5.86l12.5-7.5a1 1 0 0 0 0-1.72L8.5 3.64A1 1 0 0 0 7 4.5z" />
export const PauseIcon = () => <Svg d="M6 4h4v16H6zM14 4h4v16h-4z" />
export const PreviousIcon = () => <Svg d="M6 5h2v14H6zM20 5.5v13a.8.8 0 0 1-1.25.66L9.5 12.66a.8.8 0 0 1 0-1.32l9.25-6.5A.8.8 0 0 1 20 5.5z" />
export const NextIcon = () => <Svg d="M16 5h2v14h-2zM4 5.5v13a.8.8 0 0 0 1.25.66l9.25-6.5a.8.8 0 0 0 0-1.32L5.25 4.84A.8.8 0 0 0 4 5.5z" />
