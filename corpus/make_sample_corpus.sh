#!/usr/bin/env bash
# Regenerates corpus/sample/ from corpus/texts/ with espeak-ng and sox (plus PyAV for the one mp3,
# because Debian's sox has no mp3 encoder). Output is deterministic: sox -R fixes the noise and
# dither seeds, so re-running gives the same bytes and the committed clips stay reproducible.
#
# Each clip is speech synthesised from its text, resampled to 16 kHz mono 16-bit, then varied
# (speed, voice, noise, level, container) so the corpus mixes clear and harder speech.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
texts="$here/texts"
out="$here/sample"
python="${PYTHON:-$here/../.venv/bin/python}"

for tool in espeak-ng sox; do
  command -v "$tool" >/dev/null || { echo "error: $tool not found (apt-get install espeak-ng sox)" >&2; exit 1; }
done

# stem | espeak voice | words per minute | effect | container
manifest="
clip01_nightly_run    | en-us    | 140 | none  | wav
clip02_numbers        | en-us    | 140 | none  | wav
clip03_names          | en-us    | 140 | none  | wav
clip04_punctuation    | en-us    | 140 | none  | wav
clip05_long_sentence  | en-us    | 150 | none  | flac
clip06_fast           | en-us    | 190 | none  | wav
clip07_slow           | en-us    | 100 | none  | wav
clip08_british        | en-gb    | 140 | none  | ogg
clip09_female_voice   | en-us+f3 | 150 | none  | wav
clip10_noisy          | en-us    | 140 | noise | wav
clip11_quiet          | en-us    | 140 | quiet | wav
clip12_mp3_report     | en-us+m3 | 150 | none  | mp3
"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rm -f "$out"/clip*
mkdir -p "$out"

echo "$manifest" | while IFS='|' read -r stem voice speed effect container; do
  stem="$(echo "$stem" | xargs)"
  [ -n "$stem" ] || continue
  voice="$(echo "$voice" | xargs)"; speed="$(echo "$speed" | xargs)"
  effect="$(echo "$effect" | xargs)"; container="$(echo "$container" | xargs)"
  text="$(cat "$texts/$stem.txt")"

  espeak-ng -v "$voice" -s "$speed" -w "$work/raw.wav" "$text"
  # 16 kHz mono 16-bit; espeak's trailing silence trimmed to a short pad to keep the corpus small
  sox -R "$work/raw.wav" -r 16000 -c 1 -b 16 "$work/clip.wav" \
    silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse pad 0.2 0.3
  case "$effect" in
    none) ;;
    noise)  # white noise about 20 dB below the speech
      sox -R "$work/clip.wav" "$work/noise.wav" synth whitenoise vol 0.06
      sox -R -m "$work/clip.wav" "$work/noise.wav" "$work/mixed.wav"
      mv "$work/mixed.wav" "$work/clip.wav" ;;
    quiet)  # about -26 dB: a far-away microphone
      sox -R "$work/clip.wav" "$work/soft.wav" vol 0.05
      mv "$work/soft.wav" "$work/clip.wav" ;;
    *) echo "error: unknown effect $effect for $stem" >&2; exit 1 ;;
  esac

  case "$container" in
    wav)  cp "$work/clip.wav" "$out/$stem.wav" ;;
    flac) sox -R "$work/clip.wav" "$out/$stem.flac" ;;
    ogg)  sox -R "$work/clip.wav" -C 0 "$out/$stem.ogg" ;;
    mp3)
      "$python" - "$work/clip.wav" "$out/$stem.mp3" <<'PY'
import sys

import av

src, dst = sys.argv[1], sys.argv[2]
with av.open(src) as inp, av.open(dst, "w", format="mp3") as outp:
    stream = outp.add_stream("libmp3lame", rate=16000, layout="mono")
    stream.bit_rate = 32000
    for frame in inp.decode(audio=0):
        frame.pts = None
        for packet in stream.encode(frame):
            outp.mux(packet)
    for packet in stream.encode(None):
        outp.mux(packet)
PY
      ;;
    *) echo "error: unknown container $container for $stem" >&2; exit 1 ;;
  esac
  cp "$texts/$stem.txt" "$out/$stem.txt"
  echo "$stem.$container  voice=$voice speed=$speed effect=$effect"
done

du -ch "$out"/clip* | tail -1
