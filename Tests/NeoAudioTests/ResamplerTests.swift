import XCTest
import Foundation
import NeoAudio

/// Resampling quality, measured with our own single-frequency DFT: 44.1 kHz and 48 kHz tone
/// sweeps down to 16 kHz keep the passband (≤ 7 kHz) within 0.1 dB and push everything above
/// the new Nyquist (8 kHz) below −60 dB.
final class ResamplerTests: XCTestCase {
    /// Amplitude of the `frequency` component of `x` (Hann-windowed single-bin DFT over the
    /// middle of the signal, away from the filter's start-up and tail).
    private func amplitude(_ x: [Float], frequency: Double, rate: Int) -> Double {
        let lo = x.count / 8, n = x.count * 3 / 4
        var re = 0.0, im = 0.0, wsum = 0.0
        for i in 0..<n {
            let w = 0.5 - 0.5 * cos(2 * Double.pi * Double(i) / Double(n))
            let phase = 2 * Double.pi * frequency * Double(lo + i) / Double(rate)
            re += w * Double(x[lo + i]) * cos(phase)
            im -= w * Double(x[lo + i]) * sin(phase)
            wsum += w
        }
        return 2 * (re * re + im * im).squareRoot() / wsum
    }

    /// RMS of the middle of `x`.
    private func rms(_ x: [Float]) -> Double {
        let mid = x[(x.count / 8)..<(x.count * 7 / 8)]
        return (mid.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(mid.count)).squareRoot()
    }

    private func db(_ ratio: Double) -> Double { 20 * log10(max(ratio, 1e-30)) }

    func testSweepsTo16kHz() throws {
        let amplitude0 = 0.5, seconds = 0.25
        for inputRate in [44_100, 48_000] {
            // Passband: a stepped sweep of tones from 50 Hz to 7 kHz.
            var worstPassband = 0.0
            var f = 50.0
            var passbandTones = [Double]()
            while f < 7000 { passbandTones.append(f); f *= 1.25 }
            passbandTones.append(7000)
            for f in passbandTones {
                let x = TestAudio.tone(f, seconds: seconds, rate: inputRate, amplitude: amplitude0)
                let y = try Resampler.resample(x, from: inputRate, to: 16_000)
                XCTAssertEqual(y.count, Int((Double(x.count) * 16_000 / Double(inputRate)).rounded()))
                let errorDB = abs(db(amplitude(y, frequency: f, rate: 16_000) / amplitude0))
                worstPassband = max(worstPassband, errorDB)
                XCTAssertLessThan(errorDB, 0.1, "\(inputRate) Hz input, \(f) Hz tone")
            }
            // Stopband: tones from just above 8 kHz to the input's Nyquist; any output at all
            // (at the tone or folded anywhere) is aliasing.
            var worstAlias = -400.0
            var g = 8_250.0
            while g < Double(inputRate) / 2 - 100 {
                let x = TestAudio.tone(g, seconds: seconds, rate: inputRate, amplitude: amplitude0)
                let y = try Resampler.resample(x, from: inputRate, to: 16_000)
                let aliasDB = db(rms(y) / (amplitude0 / 2.0.squareRoot()))
                worstAlias = max(worstAlias, aliasDB)
                XCTAssertLessThan(aliasDB, -60, "\(inputRate) Hz input, \(g) Hz tone")
                g *= 1.1
            }
            // A continuous linear chirp across the whole stopband, 8.2 kHz → Nyquist.
            let n = Int(Double(inputRate) * 0.5)
            let f0 = 8_200.0, f1 = Double(inputRate) / 2 - 50
            let chirp = (0..<n).map { i -> Float in
                let t = Double(i) / Double(inputRate), duration = Double(n) / Double(inputRate)
                return Float(amplitude0 * sin(2 * Double.pi * (f0 * t + (f1 - f0) * t * t / (2 * duration))))
            }
            let chirpDB = db(rms(try Resampler.resample(chirp, from: inputRate, to: 16_000)) / (amplitude0 / 2.0.squareRoot()))
            XCTAssertLessThan(chirpDB, -60, "\(inputRate) Hz chirp")
            print("resample \(inputRate) → 16000: passband worst \(String(format: "%.4f", worstPassband)) dB (50 Hz–7 kHz), aliasing worst \(String(format: "%.1f", worstAlias)) dB (tones), \(String(format: "%.1f", chirpDB)) dB (chirp)")
        }
    }

    func testRejectsBadRates() {
        XCTAssertThrowsError(try Resampler.resample([1, 2, 3], from: 0, to: 16_000, file: "x.wav")) {
            XCTAssertTrue("\($0)".hasPrefix("x.wav: cannot resample"), "\($0)")
        }
        XCTAssertEqual(try Resampler.resample([1, 2, 3], from: 16_000, to: 16_000), [1, 2, 3])
    }
}
