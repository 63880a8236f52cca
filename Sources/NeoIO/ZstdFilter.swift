import Foundation
import CHDF5
import CZstd

/// The Zstandard HDF5 filter, registered under id 32015 (the id in HDF Group's registry that
/// hdf5plugin's `Zstd` filter uses), so files we write open in h5py with hdf5plugin and files it
/// writes open here. cd_values[0] is the compression level when present (default 3).
enum ZstdFilter {
    static let id = 32015
    static let defaultLevel: Int32 = 3

    /// Registers the filter with HDF5; returns a problem description or nil. Called once from
    /// `HDF5Library.setupProblem`.
    static func register() -> String? {
        // The class struct is copied by H5Zregister; its name must outlive the process.
        let name = UnsafeRawPointer(StaticString("zstd").utf8Start).assumingMemoryBound(to: CChar.self)
        var cls = H5Z_class2_t(
            version: Int32(H5Z_CLASS_T_VERS),
            id: H5Z_filter_t(id),
            encoder_present: 1,
            decoder_present: 1,
            name: name,
            can_apply: nil,
            set_local: nil,
            filter: { flags, cdCount, cdValues, nbytes, bufSize, buf in
                ZstdFilter.run(flags: flags, cdCount: cdCount, cdValues: cdValues, nbytes: nbytes, bufSize: bufSize, buf: buf)
            })
        if H5Zregister(&cls) < 0 { return "cannot register the zstd filter (id 32015) with HDF5: \(HDF5Library.drainErrorStack())" }
        return nil
    }

    /// The filter callback: compresses `nbytes` at `*buf` (or decompresses with H5Z_FLAG_REVERSE),
    /// replaces `*buf` with a new HDF5-allocated buffer of `*bufSize` bytes and returns the number
    /// of valid bytes in it; 0 signals failure to HDF5.
    static func run(flags: UInt32, cdCount: Int, cdValues: UnsafePointer<UInt32>?, nbytes: Int,
                    bufSize: UnsafeMutablePointer<Int>?, buf: UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Int {
        guard let buf, let bufSize, let input = buf.pointee else { return 0 }
        if flags & UInt32(H5Z_FLAG_REVERSE) != 0 {
            guard let (out, capacity, produced) = decompress(input, nbytes) else { return 0 }
            H5free_memory(input)
            buf.pointee = out
            bufSize.pointee = capacity
            return produced
        }
        var level = defaultLevel
        if cdCount > 0, let cdValues { level = Int32(bitPattern: cdValues[0]) }
        let bound = ZSTD_compressBound(nbytes)
        guard let out = H5allocate_memory(bound, false) else { return 0 }
        let n = ZSTD_compress(out, bound, input, nbytes, level)
        if ZSTD_isError(n) != 0 { H5free_memory(out); return 0 }
        H5free_memory(input)
        buf.pointee = out
        bufSize.pointee = bound
        return n
    }

    /// Streaming decompression: handles frames with or without a recorded content size and
    /// several concatenated frames. Returns the buffer, its capacity and the bytes produced.
    private static func decompress(_ input: UnsafeMutableRawPointer, _ nbytes: Int) -> (UnsafeMutableRawPointer, Int, Int)? {
        let declared = ZSTD_getFrameContentSize(input, nbytes)
        if declared == UInt64.max - 1 { return nil }  // ZSTD_CONTENTSIZE_ERROR: not a zstd frame
        var capacity = declared == UInt64.max ? max(nbytes * 4, 4096) : max(Int(clamping: declared), 1)
        guard var out = H5allocate_memory(capacity, false) else { return nil }
        guard let dctx = ZSTD_createDCtx() else { H5free_memory(out); return nil }
        defer { ZSTD_freeDCtx(dctx) }
        var inBuf = ZSTD_inBuffer(src: UnsafeRawPointer(input), size: nbytes, pos: 0)
        var produced = 0
        while true {
            var outBuf = ZSTD_outBuffer(dst: out, size: capacity, pos: produced)
            let r = ZSTD_decompressStream(dctx, &outBuf, &inBuf)
            if ZSTD_isError(r) != 0 { H5free_memory(out); return nil }
            produced = outBuf.pos
            if r == 0 && inBuf.pos == inBuf.size { break }
            if produced == capacity {
                let bigger = capacity * 2
                guard let grown = H5allocate_memory(bigger, false) else { H5free_memory(out); return nil }
                grown.copyMemory(from: out, byteCount: produced)
                H5free_memory(out)
                out = grown
                capacity = bigger
            } else if inBuf.pos == inBuf.size {
                H5free_memory(out)  // input ended inside a frame: truncated
                return nil
            }
        }
        return (out, capacity, produced)
    }
}
