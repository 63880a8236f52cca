"""Reference for Whisper's log-mel front end, to check NeoAudio's LogMelSpectrogram.

usage: audio_logmel.py OUR_MEL_FILTERS.npy SAMPLES.npy OURS.npy [SAMPLES.npy OURS.npy ...]

Each SAMPLES.npy holds the mono 16 kHz float32 samples our decoder produced; OURS.npy our
[80, frames] log-mel for them. Two references are computed from the same samples:
  * float64 NumPy: the same steps as whisper.audio.log_mel_spectrogram, in double precision;
  * float32 torch: whisper's own sequence of torch ops (torch.stft, center=True, reflect pad).
The mel filter bank is built here from librosa's formulas (slaney scale, slaney norm); if
librosa is installed it is also compared against librosa.filters.mel.
Prints one JSON line per pair with the maximum absolute differences.
"""
import json
import sys

import numpy as np

N_FFT, HOP, N_MELS, SR = 400, 160, 80, 16000


def hz_to_mel(f):
    f = np.asarray(f, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-300) / min_log_hz) / logstep, f / f_sp)


def mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filters(sr=SR, n_fft=N_FFT, n_mels=N_MELS):
    fft_freqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


def log_mel_numpy64(audio, filters):
    x = np.pad(audio.astype(np.float64), N_FFT // 2, mode="reflect")
    n_frames = 1 + (len(x) - N_FFT) // HOP
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
    spec = np.fft.rfft(x[idx] * window, axis=1)
    power = (np.abs(spec) ** 2)[:-1].T          # drop the last frame, [bins, frames]
    mel = filters.astype(np.float64) @ power
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


def log_mel_torch32(audio, filters):
    import torch
    a = torch.from_numpy(audio.astype(np.float32))
    window = torch.hann_window(N_FFT)
    stft = torch.stft(a, N_FFT, HOP, window=window, return_complex=True)
    magnitudes = stft[..., :-1].abs() ** 2
    mel_spec = torch.from_numpy(filters) @ magnitudes
    log_spec = torch.clamp(mel_spec, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).numpy()


def compare(samples_path, ours_path, filters, our_filters):
    audio = np.load(samples_path).astype(np.float32).reshape(-1)
    ours = np.load(ours_path).astype(np.float64)
    out = {"frames": int(ours.shape[1])}
    ref64 = log_mel_numpy64(audio, filters)
    if ref64.shape != ours.shape:
        return {"error": f"shape {ours.shape} != reference {ref64.shape}"}
    out["max_abs_vs_numpy64"] = float(np.abs(ours - ref64).max())
    try:
        ref32 = log_mel_torch32(audio, filters)
        out["max_abs_vs_torch32"] = float(np.abs(ours - ref32).max())
        out["max_abs_torch32_vs_numpy64"] = float(np.abs(ref32 - ref64).max())
    except ImportError:
        pass
    out["max_abs_filters"] = float(np.abs(our_filters - filters).max())
    try:
        import librosa
        lib = librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=N_MELS)
        out["max_abs_filters_vs_librosa"] = float(np.abs(lib - filters).max())
    except ImportError:
        pass
    return out


def main():
    filters = mel_filters()
    our_filters = np.load(sys.argv[1])
    args = sys.argv[2:]
    status = 0
    for i in range(0, len(args) - 1, 2):
        out = compare(args[i], args[i + 1], filters, our_filters)
        status |= "error" in out
        print(json.dumps(out))
    return status


if __name__ == "__main__":
    sys.exit(main())
