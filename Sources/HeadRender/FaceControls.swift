import Foundation

/// What moves the head in one frame: the 52 face-unit weights (in `HeadModel.unitNames` order),
/// head rotation in degrees (pitch: chin up positive, yaw: face turns toward +x, roll), a
/// translation in decimetres and a scale about the head pivot.
public struct FaceControls: Sendable, Equatable {
    public var units: [Float]
    public var pitch: Float
    public var yaw: Float
    public var roll: Float
    public var translation: SIMD3<Float>
    public var scale: Float

    public init(units: [Float] = [Float](repeating: 0, count: HeadModel.unitNames.count), pitch: Float = 0, yaw: Float = 0,
                roll: Float = 0, translation: SIMD3<Float> = .zero, scale: Float = 1) {
        self.units = units; self.pitch = pitch; self.yaw = yaw; self.roll = roll; self.translation = translation; self.scale = scale
    }

    /// Index of a face unit by ARKit name (a programming error if the name is not one of the 52).
    public static func unit(_ name: String) -> Int {
        guard let i = unitIndex[name] else { preconditionFailure("no face unit named \(name)") }
        return i
    }

    static let unitIndex: [String: Int] = Dictionary(uniqueKeysWithValues: HeadModel.unitNames.enumerated().map { ($1, $0) })
}

/// A 3×3 rotation from pitch (about x), yaw (about y) and roll (about z), in degrees: R = Ry·Rx·Rz.
@inline(__always)
func rotation(pitch: Float, yaw: Float, roll: Float) -> (SIMD3<Float>, SIMD3<Float>, SIMD3<Float>) {
    let d = Float.pi / 180
    // Pitch positive lifts the chin: rotate about +x by −pitch (y toward −z... ) so the face tips up.
    let (sp, cp) = (sin(-pitch * d), cos(-pitch * d))
    let (sy, cy) = (sin(yaw * d), cos(yaw * d))
    let (sr, cr) = (sin(roll * d), cos(roll * d))
    // Rows of Ry·Rx·Rz.
    let rz0 = SIMD3<Float>(cr, -sr, 0), rz1 = SIMD3<Float>(sr, cr, 0), rz2 = SIMD3<Float>(0, 0, 1)
    // Rx·Rz rows.
    let a0 = rz0
    let a1 = cp * rz1 - sp * rz2
    let a2 = sp * rz1 + cp * rz2
    // Ry·(Rx·Rz) rows.
    return (cy * a0 + sy * a2, a1, -sy * a0 + cy * a2)
}

