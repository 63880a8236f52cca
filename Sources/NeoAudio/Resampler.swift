import CSoxr

/// Band-limited sample-rate conversion through libsoxr at its "high quality" recipe
/// (20-bit precision, linear phase, passband to 91.3% of the output Nyquist, stopband from
/// the Nyquist on, so nothing above the new Nyquist folds back).
public enum Resampler {
    public static func resample(_ samples: [Float], from inputRate: Int, to outputRate: Int, file: String = "<memory>") throws -> [Float] {
        guard inputRate > 0, outputRate > 0 else {
            throw AudioError(file: file, "cannot resample from \(inputRate) Hz to \(outputRate) Hz")
        }
        if inputRate == outputRate || samples.isEmpty { return samples }
        let expected = Int((Double(samples.count) * Double(outputRate) / Double(inputRate)).rounded())
        var out = [Float](repeating: 0, count: expected + 16)
        var io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I)
        var quality = soxr_quality_spec(UInt(SOXR_HQ), UInt(SOXR_LINEAR_PHASE))
        var runtime = soxr_runtime_spec(1)
        var consumed = 0, produced = 0
        let error: soxr_error_t? = samples.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                soxr_oneshot(Double(inputRate), Double(outputRate), 1,
                             input.baseAddress, input.count, &consumed,
                             output.baseAddress, output.count, &produced,
                             &io, &quality, &runtime)
            }
        }
        if let error { throw AudioError(file: file, "resampling \(inputRate) Hz → \(outputRate) Hz failed (libsoxr: \(String(cString: error)))") }
        // soxr flushes the filter tail; keep the length the rate ratio implies.
        out.removeSubrange(min(produced, expected)...)
        if out.count < expected { out.append(contentsOf: repeatElement(0, count: expected - out.count)) }
        return out
    }
}
