/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320): the checksum of zlib, gzip and PNG, so
/// Python can verify checkpoint datasets with `zlib.crc32(array.tobytes())`. Slicing-by-8.
public enum CRC32 {
    static let tables: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
            t[i] = c
        }
        for k in 1..<8 {
            for i in 0..<256 {
                let prev = t[(k - 1) * 256 + i]
                t[k * 256 + i] = (prev >> 8) ^ t[Int(prev & 0xff)]
            }
        }
        return t
    }()

    /// Continues a running checksum (start with 0) over `count` bytes.
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawPointer, count: Int) -> UInt32 {
        var c = ~crc
        var p = bytes
        var n = count
        tables.withUnsafeBufferPointer { tb in
            let t = tb.baseAddress!
            while n >= 8 {
                let lo = c ^ UInt32(littleEndian: p.loadUnaligned(as: UInt32.self))
                let hi = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
                c = t[7 &* 256 &+ Int(lo & 0xff)] ^ t[6 &* 256 &+ Int((lo >> 8) & 0xff)]
                    ^ t[5 &* 256 &+ Int((lo >> 16) & 0xff)] ^ t[4 &* 256 &+ Int(lo >> 24)]
                    ^ t[3 &* 256 &+ Int(hi & 0xff)] ^ t[2 &* 256 &+ Int((hi >> 8) & 0xff)]
                    ^ t[1 &* 256 &+ Int((hi >> 16) & 0xff)] ^ t[Int(hi >> 24)]
                p += 8
                n &-= 8
            }
            while n > 0 {
                c = (c >> 8) ^ t[Int((c ^ UInt32(p.load(as: UInt8.self))) & 0xff)]
                p += 1
                n &-= 1
            }
        }
        return ~c
    }

    public static func checksum(_ bytes: UnsafeRawPointer, count: Int) -> UInt32 { update(0, bytes, count: count) }

    public static func checksum<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        Array(bytes).withUnsafeBytes { update(0, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, count: $0.count) }
    }
}
