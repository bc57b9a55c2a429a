"""Cue points: first and last sound, intro end, outro start and vocal onset.

Two kinds of evidence locate where a song "arrives" and where its ending begins:

- **level**: the frame level smoothed over 1 s against the body level of the song
  (the 60th percentile between first and last sound). A soft intro ends where the
  level first comes within 3 dB of the body; an outro starts where it last does.
- **novelty**: Foote's checkerboard novelty on a self-similarity matrix of
  bar-long log-mel summaries: a peak is a point where the sound changes (drums
  enter, the riff changes, the chorus starts).

The intro ends at the candidate (novelty peaks in the first 40 %, and the level
arrival; at least 2 bars and 4 s in) after which the next 8 bars (at least 10 s)
are loudest relative to everything before it,
if that step is at least 1.5 dB; without such a step, at the first novelty peak.
The outro start mirrors this at the end. Every cue is snapped to the nearest
downbeat (or beat when there are no downbeats), and kept inside the first
(intro) or last (outro) half.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from segue.analysis.spectral import Frames

F64 = npt.NDArray[np.float64]

SILENCE_DB = -60.0
#: A silence at least this long inside a track ends what plays (see :func:`sounding_span`).
MAX_PAUSE_S = 6.0
ARRIVAL_DROP_DB = 3.0
#: A novelty peak counts as a boundary above this (the novelty is scaled to 0–1).
NOVELTY_THRESHOLD = 0.3
#: A boundary where the level steps up (intro) or down (outro) at least this much wins.
MIN_ARRIVAL_GAIN_DB = 1.5
#: Voice onset decision (see :func:`vocal_onset`): the windows compared before and after
#: a candidate, and the music needed before one.
VOICE_WINDOW_S = 8.0
VOICE_LEAD_S = 4.0

@dataclass(frozen=True)
class Cues:
    """Cue points in seconds of the track; ``vocal_onset_s`` is ``None`` when unknown."""

    first_sound_s: float
    last_sound_s: float
    intro_end_s: float
    outro_start_s: float
    vocal_onset_s: float | None = None
    vocal_confidence: float = 0.0


def snap(t: float, grid: tuple[float, ...] | F64) -> float:
    """The grid point nearest to ``t`` (``t`` itself when the grid is empty)."""
    arr = np.asarray(grid, dtype=np.float64)
    if arr.size == 0:
        return t
    return float(arr[np.argmin(np.abs(arr - t))])


def smoothed_level_db(rms_db: npt.NDArray[np.float32], fps: float, smooth_s: float = 1.0) -> F64:
    """Frame levels power-averaged over ``smooth_s`` (centred), in dB."""
    width = max(1, round(smooth_s * fps))
    power = 10.0 ** (rms_db.astype(np.float64) / 10.0)
    mean = np.convolve(power, np.ones(width) / width, mode="same")
    out: F64 = 10.0 * np.log10(np.maximum(mean, 1e-12))
    return out


def novelty(frames: Frames, bar_s: float) -> tuple[F64, F64]:
    """Foote novelty over half-bar summaries of the log-mel spectrum and level.

    Returns the times (s) of the half-bar boundaries and the novelty at each, scaled
    so the largest peak is 1. The checkerboard kernel spans 4 bars each side.
    """
    fps = frames.fps
    step = max(1, round(bar_s / 2 * fps))
    n = len(frames.mel_db) // step
    if n < 8:
        return np.zeros(0), np.zeros(0)
    mel = frames.mel_db[: n * step].reshape(n, step, -1).mean(axis=1).astype(np.float64)
    feats = mel - mel.mean(axis=1, keepdims=True)
    feats /= np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-9)
    level = mel.mean(axis=1, keepdims=True) / 20.0  # loudness changes matter too
    feats = np.concatenate([feats, level], axis=1)
    half = min(8, n // 4)
    sign = np.concatenate([-np.ones(half), np.ones(half)])
    kernel = np.outer(sign, sign) * -1.0  # cross-blocks count positive
    taper = np.hanning(2 * half + 2)[1:-1]
    kernel *= np.outer(taper, taper)
    # Only the band of the self-similarity matrix under the kernel is needed.
    padded = np.pad(feats, ((half, half), (0, 0)), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half, axis=0)[:n]
    windows = windows.transpose(0, 2, 1)  # (n, 2*half, dims)
    sq = (windows**2).sum(axis=2)
    gram = np.einsum("nid,njd->nij", windows, windows)
    dist = np.sqrt(np.maximum(sq[:, :, None] + sq[:, None, :] - 2.0 * gram, 0.0))
    nov = (dist * kernel).sum(axis=(1, 2))
    nov = np.maximum(nov, 0.0)
    times: F64 = np.arange(n) * step / fps
    # The step from silence into the song (and out of it) is no structural change:
    # scale by the largest peak between one bar after the first and before the last sound.
    audible = np.flatnonzero(frames.rms_db > SILENCE_DB)
    if len(audible):
        first, last = audible[0] / fps, audible[-1] / fps
        nov[(times < first + bar_s) | (times > last - bar_s)] = 0.0
    if nov.max() > 0:
        nov /= nov.max()
    return times, nov


def _peaks(values: F64, threshold: float) -> npt.NDArray[np.intp]:
    inner = (values[1:-1] >= values[:-2]) & (values[1:-1] > values[2:]) & (
        values[1:-1] >= threshold
    )
    out: npt.NDArray[np.intp] = np.flatnonzero(inner) + 1
    return out


#: Voice evidence is gathered in blocks of this length.
VOICE_BLOCK_S = 0.5
#: A band's frame pair counts as aligned partials at this correlation of the moved
#: spectrum (noise and drum hits align worse); a band counts in a block when at least
#: :data:`VOICE_TONAL_SHARE` of its pairs do.
VOICE_TONAL_CORR = 0.8
VOICE_TONAL_SHARE = 0.5
#: A partial "moves" from one frame to the next by at least this much, in cents.
VOICE_MOTION_CENTS = 10.0
#: How many of the most active voice bands make a block's glide features.
VOICE_TOP_BANDS = 3
#: Mel bands of the formant features: F1/F2 (syllables) and F3 plus fricatives.
FORMANT_HZ = (800.0, 3000.0)
SIBILANT_HZ = (3000.0, 5000.0)
#: Names of :func:`voice_features`, in order (``rel_``: above the track's own 25th
#: percentile, so a texture that glides or flickers all along does not count).
VOICE_FEATURES = ("glide", "moving", "formant_flicker", "sibilant_flicker", "mid_flux_share",
                  "rel_glide", "rel_moving", "rel_formant_flicker", "rel_sibilant_flicker",
                  "level_db")
#: The speech detector's onset (:func:`speech_onset`): the first chunk at or above
#: this probability (Silero's own default) that begins :data:`SPEECH_HOLD_S` of mean
#: probability at least as high, moved back over the chunks before it that still read
#: :data:`SPEECH_BACK`: Silero reacts 0.1–0.4 s after a voice starts, and a talk-up
#: must end before it.
SPEECH_THRESHOLD = 0.5
SPEECH_HOLD_S = 3.0
SPEECH_BACK = 0.1
#: Once it holds, the onset moves back to the first burst of :data:`SPEECH_BURST_S` that
#: reads the threshold in the :data:`VOICE_WINDOW_S` before it: recorded lines are short
#: and parted by pauses, so the first rarely holds 3 s (on the benchmark's recorded
#: speech 19 of 55 onsets within 1 s against 17, the synthetic voices unchanged).
SPEECH_BURST_S = 0.5
#: The same detector on the signal with the music suppressed
#: (:mod:`segue.analysis.separation`) also reads music that does not repeat, so its
#: onset must read at least this much and rise by :data:`ENHANCED_SPEECH_RISE` in mean
#: probability over the :data:`VOICE_WINDOW_S` after it against the one before it: a
#: voice enters, a texture read all along does not (nor one read from the first sound
#: on: like the DSP score, this onset needs :data:`VOICE_LEAD_S` of music first).
#: Chosen on the synthetic voices and the instrumentals alone (best F1 with no more
#: onsets on instrumentals), not on the recorded speech (``benchmarks/vocal_sets.py``).
ENHANCED_SPEECH_THRESHOLD = 0.6
ENHANCED_SPEECH_RISE = 0.5
#: A voice the track opens on (:func:`start_onset`) has no music before it to rise
#: from: it is heard when the DSP score's mean over the first :data:`VOICE_WINDOW_S`
#: reaches this logit: the smallest level that puts no onset on the opening of any
#: instrumental at hand (the benchmark's read at most 1.3; two synth leads with pitch
#: bends among 117 more Debian tracks, 1.69 and 1.75), not chosen on the recorded voices.
START_VOICE_LEVEL = 1.8


@dataclass(frozen=True)
class VoiceModel:
    """A logistic voice score over the voice features and its onset thresholds.

    ``weights`` (one per feature, in order) and ``bias`` give the score (a logit) of a
    block; an onset is reported where the score steps up by at least ``step`` and is at
    least ``level`` after (see :func:`onset_from_scores`). Fitted by
    ``benchmarks/fit_vocal.py`` on the vocal benchmark set.
    """

    weights: tuple[float, ...]
    bias: float
    step: float
    level: float = 0.0


#: The DSP voice score over :data:`VOICE_FEATURES`.
DSP_VOICE_MODEL = VoiceModel(
    weights=(0.4486, 12.2, 0.2787, -0.3417, -1.859, -0.3178, -4.928, -0.2476, 0.1586,
             0.008284),
    bias=-0.09962, step=1.25)

def _blocks(values: F64, step: int) -> F64:
    """``values`` (frames, ...) cut into whole blocks of ``step`` frames: (blocks, step, ...)."""
    n = len(values) // step
    out: F64 = values[: n * step].reshape(n, step, *values.shape[1:])
    return out


def _glide_blocks(frames: Frames, step: int) -> tuple[F64, F64]:
    """Per block, the partials' sustained glide (cents per frame) and moving share.

    Each is the mean of the :data:`VOICE_TOP_BANDS` most active voice bands; the
    moving share is that of frame pairs whose partials keep moving. A vibrato or an
    intonation contour moves the same way for several frames in a row, so the product
    of consecutive movements is positive; the estimation noise of held notes averages
    to about 0. Only frame pairs whose spectra align well count.
    """
    cents = frames.glide_cents.astype(np.float64)
    tonal = frames.glide_corr >= VOICE_TONAL_CORR
    pair = np.concatenate([tonal[1:] & tonal[:-1], np.zeros((1, tonal.shape[1]), bool)])
    product = np.concatenate([cents[1:] * cents[:-1], np.zeros((1, cents.shape[1]))])
    product = np.where(pair, product, 0.0)
    moving = np.where(pair, product >= VOICE_MOTION_CENTS**2, False).astype(np.float64)
    count = _blocks(pair.astype(np.float64), step).sum(axis=1)
    enough = count >= VOICE_TONAL_SHARE * step
    glide = np.sqrt(np.maximum(_blocks(product, step).sum(axis=1) / np.maximum(count, 1), 0.0))
    share = _blocks(moving, step).sum(axis=1) / np.maximum(count, 1)
    glide, share = np.where(enough, glide, 0.0), np.where(enough, share, 0.0)
    top = VOICE_TOP_BANDS
    return (np.sort(glide, axis=1)[:, -top:].mean(axis=1),
            np.sort(share, axis=1)[:, -top:].mean(axis=1))


def _flicker(frames: Frames, step: int, band_hz: tuple[float, float]) -> F64:
    """Per block, how much the log-mel energy in ``band_hz`` flickers frame to frame (dB).

    Syllables and consonants come and go several times a second, pads and chords do not.
    """
    n_mels = frames.mel_db.shape[1]
    edges = np.linspace(2595 * np.log10(1 + 30 / 700), 2595 * np.log10(1 + 5000 / 700),
                        n_mels + 2)
    centres = 700 * (10 ** (edges[1:-1] / 2595) - 1)
    band = (centres >= band_hz[0]) & (centres <= band_hz[1])
    energy = frames.mel_db[:, band].astype(np.float64).mean(axis=1)
    out: F64 = _blocks(np.abs(np.diff(energy, prepend=energy[:1])), step).mean(axis=1)
    return out


def voice_features(frames: Frames) -> tuple[F64, F64]:
    """Evidence of a voice per :data:`VOICE_BLOCK_S` block: ``(times_s, features)``.

    ``features`` has shape ``(blocks, len(VOICE_FEATURES))``, in the order of
    :data:`VOICE_FEATURES`: the partials' glide and moving share
    (:func:`_glide_blocks`, from the fluctogram of
    :func:`segue.analysis.spectral.partial_glides`), the flicker of the formant and
    sibilant bands (:func:`_flicker`), the mid band's share of the onset strength, the
    first four again above the track's own 25th percentile, and the block's level
    against the track's median (dB).
    """
    step = max(2, round(VOICE_BLOCK_S * frames.fps))
    n = len(frames.onset) // step
    if n == 0 or frames.glide_cents.shape[1] < VOICE_TOP_BANDS:
        return np.zeros(0), np.zeros((0, len(VOICE_FEATURES)))
    glide, moving = _glide_blocks(frames, step)
    formant = _flicker(frames, step, FORMANT_HZ)
    sibilant = _flicker(frames, step, SIBILANT_HZ)
    onset = _blocks(frames.onset.astype(np.float64), step).mean(axis=1)
    mid = _blocks(frames.onset_mid.astype(np.float64), step).mean(axis=1)
    level = _blocks(frames.rms_db.astype(np.float64), step).mean(axis=1)
    audible = level > SILENCE_DB
    base = audible if audible.any() else np.ones(n, bool)
    raw = np.stack([glide, moving, formant, sibilant])
    rel = raw - np.percentile(raw[:, base], 25, axis=1, keepdims=True)
    table = np.column_stack([raw.T, mid / np.maximum(onset, 1e-6), rel.T,
                             level - float(np.median(level[base]))])
    times: F64 = np.arange(n) * step / frames.fps
    return times, table


def voice_scores(table: F64, model: VoiceModel = DSP_VOICE_MODEL) -> F64:
    """The voice score (a logit) of every block of a :func:`voice_features` table."""
    out: F64 = table @ np.asarray(model.weights) + model.bias
    return out


def voice_probability(frames: Frames) -> tuple[F64, F64]:
    """P(a voice sounds) per block by the DSP score: ``(times_s, probability)``."""
    times, table = voice_features(frames)
    prob: F64 = 1.0 / (1.0 + np.exp(-voice_scores(table)))
    return times, prob


def speech_onset(speech: tuple[F64, F64], first_s: float, last_s: float, *,
                 threshold: float = SPEECH_THRESHOLD, rise: float | None = None
                 ) -> tuple[float | None, float]:
    """Where the speech detector hears a voice enter for good, and a 0–1 confidence.

    ``speech`` is ``(times_s, probability)`` of
    :func:`segue.analysis.speech.speech_probability`. The onset is the first chunk
    between ``first_s`` and ``last_s`` that reads at least ``threshold`` and begins
    :data:`SPEECH_HOLD_S` whose mean probability does too (and, when ``rise`` is given,
    whose mean over the next :data:`VOICE_WINDOW_S` exceeds that over the one before by
    ``rise``, after at least :data:`VOICE_LEAD_S` of music as for the DSP score), moved
    back to the first burst of the voice (see :data:`SPEECH_BURST_S`) and then over
    the chunks just before it that read at least :data:`SPEECH_BACK`. The
    confidence is that mean probability. ``(None, 0.0)`` when there is none.
    """
    times, prob = np.asarray(speech[0]), np.asarray(speech[1])
    if len(times) < 2:
        return None, 0.0
    if rise is not None:
        first_s += VOICE_LEAD_S  # a rise needs music before it to rise from
    dt = float(times[1] - times[0])
    hold = max(1, round(SPEECH_HOLD_S / dt))
    if len(prob) < hold:
        return None, 0.0
    cums = np.concatenate([[0.0], np.cumsum(prob)])
    mean = (cums[hold:] - cums[:-hold]) / hold  # mean over chunks i .. i + hold - 1
    head = prob[: len(mean)]
    inside = (times[: len(mean)] >= first_s) & (times[: len(mean)] <= last_s)
    ok = inside & (head >= threshold) & (mean >= threshold)
    if rise is not None:
        ok &= _rise(cums, len(mean), max(1, round(VOICE_WINDOW_S / dt))) >= rise
    found = np.flatnonzero(ok)
    if len(found) == 0:
        return None, 0.0
    i = int(found[0])
    confidence = float(mean[i])
    lo = int(np.searchsorted(times, max(first_s, float(times[i]) - VOICE_WINDOW_S)))
    i = _first_word(prob, cums, i, lo, threshold, max(1, round(SPEECH_BURST_S / dt)))
    while i > 0 and prob[i - 1] >= SPEECH_BACK and times[i - 1] >= first_s:
        i -= 1
    return round(float(times[i]), 2), round(confidence, 2)


def _first_word(prob: F64, cums: F64, i: int, lo: int, threshold: float, burst: int) -> int:
    """The earliest chunk from ``lo`` to ``i`` beginning a burst that reads ``threshold``.

    A burst is ``burst`` chunks whose mean reads ``threshold`` and whose first does too;
    ``i`` itself when no earlier chunk begins one.

    A voice that enters with a short line and a pause holds only from its second line
    on; its onset is the first line's.
    """
    ends = np.minimum(np.arange(lo, i) + burst, len(prob))
    starts = np.arange(lo, i)
    ok = (prob[lo:i] >= threshold) & ((cums[ends] - cums[starts]) / burst >= threshold)
    hits = np.flatnonzero(ok)
    return lo + int(hits[0]) if len(hits) else i


def _rise(cums: F64, n: int, window: int) -> F64:
    """Per chunk ``i < n``: mean over the ``window`` chunks from it minus the one before.

    ``cums`` is the probabilities' cumulative sum with a leading 0; before the first
    chunk the mean counts as 0.
    """
    i = np.arange(n)
    end, start = np.minimum(i + window, len(cums) - 1), np.maximum(i - window, 0)
    after = (cums[end] - cums[i]) / np.maximum(end - i, 1)
    before = np.where(i > 0, (cums[i] - cums[start]) / np.maximum(i - start, 1), 0.0)
    out: F64 = after - before
    return out


def vocal_onset(frames: Frames, first_s: float, last_s: float,
                speech: tuple[F64, F64] | None = None,
                enhanced_speech: tuple[F64, F64] | None = None
                ) -> tuple[float | None, float]:
    """Where a voice (sung or spoken) enters, and a 0–1 confidence (``None``, 0: none).

    Two detectors; the earlier onset of those that find one wins, with its confidence:

    - the DSP score, for any voice: a change point in the voice evidence, the block
      after which the model's voice score (:func:`voice_scores`) is highest, on average
      over the next :data:`VOICE_WINDOW_S`, relative to the :data:`VOICE_WINDOW_S`
      before it (at least :data:`VOICE_LEAD_S` of music first). Textures that glide all
      along (chorused pads, distorted guitars) raise both sides alike; a voice that
      enters raises only the second. See :func:`onset_from_scores`.
    - the speech detector (:func:`speech_onset`), when ``speech`` (its output) is given:
      it hears speech under music the DSP score misses, but not sustained singing.
    - the speech detector on the signal with the music suppressed, when
      ``enhanced_speech`` is given: it hears recorded speech buried in dense music, and
      must read :data:`ENHANCED_SPEECH_THRESHOLD` and rise by
      :data:`ENHANCED_SPEECH_RISE` (the suppression lets through music that does not
      repeat, which it sometimes takes for speech).

    When none hears a voice in the first :data:`VOICE_WINDOW_S`, a voice the track
    opens on is looked for (:func:`start_onset`): the rises above cannot see it.
    """
    times, table = voice_features(frames)
    model = DSP_VOICE_MODEL
    scores = voice_scores(table, model)
    found = [onset_from_scores(times, scores, first_s, last_s, step=model.step,
                               level=model.level)]
    if speech is not None:
        found.append(speech_onset(speech, first_s, last_s))
    if enhanced_speech is not None:
        found.append(speech_onset(enhanced_speech, first_s, last_s,
                                  threshold=ENHANCED_SPEECH_THRESHOLD,
                                  rise=ENHANCED_SPEECH_RISE))
    heard = [f for f in found if f[0] is not None]
    earliest = min(heard, key=lambda f: f[0] or 0.0) if heard else (None, 0.0)
    if earliest[0] is not None and earliest[0] < first_s + VOICE_WINDOW_S:
        return earliest
    opening = start_onset(times, scores, first_s)
    return opening if opening[0] is not None else earliest


def start_onset(times: F64, scores: F64, first_s: float) -> tuple[float | None, float]:
    """A voice the track opens on: ``(onset, confidence)``, ``(None, 0.0)`` without one.

    Heard when the voice score's mean over the :data:`VOICE_WINDOW_S` from the first
    sound reaches :data:`START_VOICE_LEVEL`; the onset is that window's first block
    scoring above 0 (more likely voice than not), the confidence the mean over twice
    the level (0.5 at the level, as for a rise).
    """
    inside = np.flatnonzero((times >= first_s) & (times < first_s + VOICE_WINDOW_S))
    if len(inside) < round(VOICE_WINDOW_S / VOICE_BLOCK_S) // 2:
        return None, 0.0
    mean = float(scores[inside].mean())
    if mean < START_VOICE_LEVEL:
        return None, 0.0
    voiced = inside[scores[inside] > 0.0]
    onset = float(times[voiced[0] if len(voiced) else inside[0]])
    return round(onset, 2), round(float(np.clip(mean / (2 * START_VOICE_LEVEL), 0.0, 1.0)), 2)


def onset_from_scores(times: F64, scores: F64, first_s: float, last_s: float, *,
                      step: float, level: float = 0.0) -> tuple[float | None, float]:
    """The DSP decision of :func:`vocal_onset` on given per-block voice scores (logits).

    An onset is reported where the step in the score reaches ``step`` and the score after
    it is at least ``level``; the confidence is the step over twice ``step`` (0.5 at the
    threshold, 1 from twice it).
    """
    per_s = 1.0 / VOICE_BLOCK_S
    window = round(VOICE_WINDOW_S * per_s)
    lead = round(VOICE_LEAD_S * per_s)
    inside = np.flatnonzero((times >= first_s) & (times <= last_s))
    if len(inside) < lead + window:
        return None, 0.0
    v = scores[inside[0] : inside[-1] + 1]
    cums = np.concatenate([[0.0], np.cumsum(v)])
    ks = np.arange(lead, len(v) - window + 1)
    after = (cums[ks + window] - cums[ks]) / window
    starts = np.maximum(0, ks - window)
    before = (cums[ks] - cums[starts]) / (ks - starts)
    rise = after - before
    best = int(np.argmax(rise))
    if rise[best] < step or after[best] < level:
        return None, 0.0
    onset = float(times[inside[0] + ks[best]])
    return round(onset, 2), round(float(np.clip(rise[best] / (2 * step), 0.0, 1.0)), 2)


def _mean_db(level: F64, times: F64, a: float, b: float) -> float:
    """The power mean of ``level`` (dB) over ``a <= times < b``; -120 when empty."""
    sel = level[(times >= a) & (times < b)]
    return float(10.0 * np.log10(np.mean(10.0 ** (sel / 10.0)))) if len(sel) else -120.0


def _boundary(steps: list[tuple[float, float]], fallback: float | None, default: float
              ) -> float:
    """The time of the largest step in level, when it is clear enough.

    ``steps`` are ``(dB, t)``; the largest counts when it reaches
    :data:`MIN_ARRIVAL_GAIN_DB`. Else ``fallback`` or, without one, ``default``.
    """
    best = max(steps, default=(0.0, default))
    if best[0] >= MIN_ARRIVAL_GAIN_DB:
        return best[1]
    return default if fallback is None else fallback


def _sections(frames: Frames, level: F64, first: float, last: float, bar_s: float,
              arrival: float, departure: float) -> tuple[float, float]:
    """Intro end and outro start: steps in level at novelty boundaries, before snapping.

    ``arrival`` and ``departure`` are where the level first and last reaches the body's;
    they are candidates too, and the answer when no boundary is clearer.
    """
    times = frames.times_s
    nov_t, nov = novelty(frames, bar_s)
    peaks = [float(nov_t[p]) for p in _peaks(nov, NOVELTY_THRESHOLD)] if len(nov) else []
    span = max(8 * bar_s, 10.0)
    lead = max(2 * bar_s, 4.0)  # a shorter "before" is too little to compare with
    # The song arrives at the boundary after which it is loudest relative to before;
    # with no step in level, at the first clear change in sound.
    early = [t for t in peaks if first + lead <= t <= first + 0.4 * (last - first)]
    gains = [(_mean_db(level, times, t, t + span) - _mean_db(level, times, first, t), t)
             for t in [*early, arrival] if t >= first + lead]
    intro_end = _boundary(gains, early[0] if early else None, arrival)
    # The ending begins at the boundary after which it is quietest relative to before.
    late = [t for t in peaks if last - 0.4 * (last - first) <= t <= last - lead]
    drops = [(_mean_db(level, times, t - span, t) - _mean_db(level, times, t, last), t)
             for t in [*late, departure] if t <= last - lead]
    return intro_end, _boundary(drops, late[-1] if late else None, departure)


def sounding_span(rms_db: npt.NDArray[np.float32], fps: float) -> npt.NDArray[np.intp]:
    """The audible frames of what plays: the longest stretch of sound between long silences.

    A silence of :data:`MAX_PAUSE_S` or more inside a file (a hidden track after
    minutes of nothing, two songs in one file) would be dead air on the radio, so
    only the longest stretch plays; a pause shorter than that is part of the song.
    When no stretch holds half the sound, the silences are the music's own (a
    sparse piece) and all of it plays. Empty when nothing is audible.
    """
    audible = np.flatnonzero(rms_db > SILENCE_DB)
    if len(audible) < 2:
        return audible
    breaks = np.flatnonzero(np.diff(audible) > MAX_PAUSE_S * fps)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [len(audible) - 1]])
    longest = int(np.argmax(audible[ends] - audible[starts]))
    if ends[longest] - starts[longest] + 1 < len(audible) / 2:
        return audible
    out: npt.NDArray[np.intp] = audible[starts[longest] : ends[longest] + 1]
    return out


def find_cues(
    frames: Frames,
    duration_s: float,
    *,
    beat_times_s: tuple[float, ...] = (),
    downbeat_times_s: tuple[float, ...] = (),
    bpm: float = 0.0,
    speech: tuple[F64, F64] | None = None,
    enhanced_speech: tuple[F64, F64] | None = None,
) -> Cues:
    """Find first/last sound, intro end, outro start and the vocal onset.

    Parameters
    ----------
    frames : the per-frame features of the track.
    duration_s : length of the track.
    beat_times_s, downbeat_times_s : the grid the cues snap to.
    bpm : tempo; sets the bar length of the novelty analysis (4 s bars when 0).
    speech : the speech detector's ``(times_s, probability)``, when it ran
        (:func:`segue.analysis.speech.speech_probability`).
    enhanced_speech : the same on the signal with the music suppressed (``enhance``).

    """
    fps = frames.fps
    times = frames.times_s
    audible = sounding_span(frames.rms_db, fps)
    if len(audible) == 0:
        return Cues(0.0, duration_s, 0.0, duration_s)
    first = float(times[audible[0]])
    last = float(min(duration_s, times[audible[-1]]))
    grid = downbeat_times_s if len(downbeat_times_s) >= 4 else beat_times_s
    bar_s = 4 * 60.0 / bpm if bpm > 0 else 4.0
    level = smoothed_level_db(frames.rms_db, fps)
    body = float(np.percentile(level[audible[0] : audible[-1] + 1], 60))
    arrived = np.flatnonzero(level >= body - ARRIVAL_DROP_DB)
    middle = first + (last - first) / 2.0
    arrival = float(times[arrived[0]]) if len(arrived) else first
    departure = float(times[arrived[-1]]) if len(arrived) else last
    intro_end, outro_start = _sections(frames, level, first, last, bar_s, arrival, departure)
    intro_end = snap(min(max(intro_end, first), middle), grid)
    outro_start = snap(max(min(outro_start, last), middle), grid)
    vocal_s, vocal_conf = vocal_onset(frames, first, last, speech, enhanced_speech)
    return Cues(
        first_sound_s=round(first, 3),
        last_sound_s=round(last, 3),
        intro_end_s=round(max(first, min(intro_end, middle)), 3),
        outro_start_s=round(min(last, max(outro_start, middle)), 3),
        vocal_onset_s=vocal_s,
        vocal_confidence=vocal_conf,
    )
