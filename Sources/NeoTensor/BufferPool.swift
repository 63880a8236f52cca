import Foundation

/// Size-bucketed pool of float buffers. Freed tensors return their buffer here; the next tensor
/// of a similar size reuses it, so a warm training step makes no system allocation.
public final class BufferPool: @unchecked Sendable {
    private let lock = NSLock()
    private var freeLists: [Int: [UnsafeMutablePointer<Float>]] = [:]
    private var _systemAllocations = 0
    private var _bytesHeld = 0
    private var _bytesInUse = 0
    private var _peakBytesInUse = 0

    public init() {}

    deinit {
        for (_, list) in freeLists { for p in list { p.deallocate() } }
    }

    /// Bucket capacities: powers of two split into quarters (at most 25% slack), at least 16 floats.
    @inline(__always)
    static func bucket(for count: Int) -> Int {
        if count <= 16 { return 16 }
        let high = Int.bitWidth &- (count &- 1).leadingZeroBitCount  // 2^high >= count
        let base = 1 &<< (high &- 1)
        let quarter = base >> 2
        var cap = base
        while cap < count { cap &+= quarter }
        return cap
    }

    /// A buffer of at least `count` floats, uninitialised.
    public func acquire(_ count: Int) -> (UnsafeMutablePointer<Float>, Int) {
        let cap = BufferPool.bucket(for: count)
        lock.lock()
        defer { lock.unlock() }
        _bytesInUse &+= cap &* 4
        if _bytesInUse > _peakBytesInUse { _peakBytesInUse = _bytesInUse }
        if var list = freeLists[cap], let p = list.popLast() {
            freeLists[cap] = list
            return (p, cap)
        }
        _systemAllocations &+= 1
        _bytesHeld &+= cap &* 4
        let p = UnsafeMutablePointer<Float>.allocate(capacity: cap)
        return (p, cap)
    }

    public func release(_ pointer: UnsafeMutablePointer<Float>, capacity: Int) {
        lock.lock()
        _bytesInUse &-= capacity &* 4
        freeLists[capacity, default: []].append(pointer)
        lock.unlock()
    }

    /// Number of buffers obtained from the system allocator since creation.
    public var systemAllocations: Int { lock.lock(); defer { lock.unlock() }; return _systemAllocations }
    /// Bytes owned by the pool (in use or free).
    public var bytesHeld: Int { lock.lock(); defer { lock.unlock() }; return _bytesHeld }
    /// Bytes currently handed out to live tensors.
    public var bytesInUse: Int { lock.lock(); defer { lock.unlock() }; return _bytesInUse }
    /// Highest `bytesInUse` since creation or the last `resetPeak()`.
    public var peakBytesInUse: Int { lock.lock(); defer { lock.unlock() }; return _peakBytesInUse }
    public func resetPeak() { lock.lock(); _peakBytesInUse = _bytesInUse; lock.unlock() }

    /// Returns every free buffer to the system.
    public func trim() {
        lock.lock()
        for (cap, list) in freeLists {
            for p in list { p.deallocate() }
            _bytesHeld &-= cap &* 4 &* list.count
        }
        freeLists.removeAll()
        lock.unlock()
    }
}

/// Memory behind one or more tensors (views share it).
public final class Storage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let capacity: Int
    let pool: BufferPool?

    init(count: Int, pool: BufferPool) {
        let (p, cap) = pool.acquire(max(count, 1))
        self.pointer = p
        self.capacity = cap
        self.pool = pool
    }

    deinit {
        if let pool { pool.release(pointer, capacity: capacity) } else { pointer.deallocate() }
    }
}
