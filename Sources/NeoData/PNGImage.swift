import CPNG
import NeoIO
import Foundation

/// 8-bit RGB PNG files through libpng (Foundation has no zlib writer on Linux).
public enum PNGImage {
    /// Writes `rgb` (height×width×3 bytes, rows from the top) to `path` atomically.
    public static func write(_ rgb: [UInt8], width: Int, height: Int, to path: String) throws {
        guard width > 0, height > 0, rgb.count == width * height * 3 else {
            throw DataError(file: path, "image must be \(width)×\(height)×3 bytes, got \(rgb.count)")
        }
        let tmp = AtomicFile.temporaryPath(for: path)
        guard let fp = fopen(tmp, "wb") else { throw DataError(file: path, "cannot create: \(String(cString: strerror(errno)))") }
        var ok = false
        defer { fclose(fp); if !ok { unlink(tmp) } }
        // libpng reports errors by longjmp, which Swift cannot catch; its default handler aborts.
        // Everything it could fail on (sizes, the open file) is checked above.
        guard let created = png_create_write_struct(PNG_LIBPNG_VER_STRING, nil, nil, nil) else {
            throw DataError(file: path, "libpng could not start a writer")
        }
        var png: png_structp? = created
        let info = png_create_info_struct(created)
        var infoRef: png_infop? = info
        defer { png_destroy_write_struct(&png, &infoRef) }
        png_init_io(png, fp)
        png_set_IHDR(png, info, png_uint_32(width), png_uint_32(height), 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT)
        png_write_info(png, info)
        rgb.withUnsafeBufferPointer { b in
            for y in 0..<height { png_write_row(png, b.baseAddress! + y * width * 3) }
        }
        png_write_end(png, nil)
        guard fflush(fp) == 0, ferror(fp) == 0 else { throw DataError(file: path, "write failed: \(String(cString: strerror(errno)))") }
        try AtomicFile.commit(temporary: tmp, to: path)
        ok = true
    }
}
