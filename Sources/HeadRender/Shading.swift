import Foundation

extension HeadRenderer {
    /// Linear → sRGB bytes (4096 steps).
    static let gammaTable: [UInt8] = (0..<4096).map { i in
        let c = Float(i) / 4095
        let s = c <= 0.0031308 ? 12.92 * c : 1.055 * pow(c, 1 / 2.4) - 0.055
        return UInt8(max(0, min(255, (s * 255).rounded())))
    }

    /// A hash in [0, 1) of integer lattice coordinates and a seed.
    @inline(__always) static func hash(_ x: Int, _ y: Int, _ seed: UInt64) -> Float {
        var h = UInt64(bitPattern: Int64(x)) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(bitPattern: Int64(y)) &* 0xC2B2_AE3D_27D4_EB4F ^ seed
        h ^= h >> 31; h = h &* 0xBF58_476D_1CE4_E5B9; h ^= h >> 29
        return Float(h >> 40) / Float(1 << 24)
    }

    /// Smooth value noise on a lattice of `cell` texels.
    static func valueNoise(_ x: Int, _ y: Int, cell: Int, seed: UInt64) -> Float {
        let fx = Float(x) / Float(cell), fy = Float(y) / Float(cell)
        let ix = Int(fx.rounded(.down)), iy = Int(fy.rounded(.down))
        var tx = fx - Float(ix), ty = fy - Float(iy)
        tx = tx * tx * (3 - 2 * tx); ty = ty * ty * (3 - 2 * ty)
        let a = hash(ix, iy, seed), b = hash(ix + 1, iy, seed), c = hash(ix, iy + 1, seed), d = hash(ix + 1, iy + 1, seed)
        return (a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + d * tx) * ty
    }

    /// The identity's skin detail in UV space: a brightness multiplier around 1 (mottling,
    /// pores, freckles), sampled bilinearly.
    static func makeSkinTexture(identity: HeadIdentity) -> [Float] {
        let n = textureSide
        var tex = [Float](repeating: 1, count: n * n)
        let seed = identity.seed &* 0x2545_F491_4F6C_DD1D
        for y in 0..<n {
            for x in 0..<n {
                var v: Float = 1
                v += 0.10 * (valueNoise(x, y, cell: 24, seed: seed) - 0.5)
                v += 0.06 * (valueNoise(x, y, cell: 6, seed: seed ^ 1) - 0.5)
                v += 0.05 * (hash(x, y, seed ^ 2) - 0.5)
                if identity.freckles > 0 && hash(x, y, seed ^ 3) < 0.012 * identity.freckles { v *= 0.78 }
                tex[y * n + x] = v
            }
        }
        return tex
    }

    @inline(__always) static func bilinear(_ t: UnsafePointer<Float>, side n: Int, _ u: Float, _ v: Float) -> Float {
        let fx = min(Float(n - 1), max(0, u * Float(n - 1))), fy = min(Float(n - 1), max(0, v * Float(n - 1)))
        let x0 = Int(fx), y0 = Int(fy)
        let x1 = min(n &- 1, x0 &+ 1), y1 = min(n &- 1, y0 &+ 1)
        let tx = fx - Float(x0), ty = fy - Float(y0)
        let a = t[y0 &* n &+ x0], b = t[y0 &* n &+ x1], c = t[y1 &* n &+ x0], d = t[y1 &* n &+ x1]
        return (a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + d * tx) * ty
    }

    /// Backdrop: a vertical gradient with a few soft out-of-focus blobs (linear RGB, supersampled).
    static func makeBackground(identity: HeadIdentity, side: Int) -> [Float] {
        var bg = [Float](repeating: 0, count: 3 * side * side)
        for y in 0..<side {
            let fy = (Float(y) + 0.5) / Float(side)
            for x in 0..<side {
                let fx = (Float(x) + 0.5) / Float(side)
                var c = identity.backgroundTop * (1 - fy) + identity.backgroundBottom * fy
                for s in identity.backgroundSpots {
                    let dx = fx - s.x, dy = fy - s.y
                    c *= 1 + s.w * exp(-(dx * dx + dy * dy) / (s.z * s.z))
                }
                let k = 3 * (y * side + x)
                bg[k] = max(0, c.x); bg[k + 1] = max(0, c.y); bg[k + 2] = max(0, c.z)
            }
        }
        return bg
    }

    /// Shades every covered sample once from its triangle and perspective-correct barycentrics.
    func shade() {
        let side = ss
        let bands = min(threads * 4, side)
        let id = identity, lm = looks
        let L = id.lightDirection
        let F = { let f = SIMD3<Float>(-L.x, 0.25, 0.8); return f / (f * f).sum().squareRoot() }()
        colour.withUnsafeMutableBufferPointer { cb in
            triangle.withUnsafeBufferPointer { tb in
                bary.withUnsafeBufferPointer { bb in
                    screen.withUnsafeBufferPointer { sb in
                        normals.withUnsafeBufferPointer { nb in
                            shaped.withUnsafeBufferPointer { rb in
                                model.faces.withUnsafeBufferPointer { fb in
                                    model.faceUVs.withUnsafeBufferPointer { ub in
                                        model.uvs.withUnsafeBufferPointer { uvb in
                                            model.faceParts.withUnsafeBufferPointer { pb in
                                                skinTexture.withUnsafeBufferPointer { texb in
                                                    background.withUnsafeBufferPointer { bgb in
                                                    cavity.withUnsafeBufferPointer { cvb in
            nonisolated(unsafe) let out = cb.baseAddress!, tri = tb.baseAddress!, ba = bb.baseAddress!, scr = sb.baseAddress!
            nonisolated(unsafe) let nrm = nb.baseAddress!, rest = rb.baseAddress!, f = fb.baseAddress!, fuv = ub.baseAddress!
            nonisolated(unsafe) let uvs = uvb.baseAddress!, parts = pb.baseAddress!, tex = texb.baseAddress!, bg = bgb.baseAddress!
            nonisolated(unsafe) let cavities = cvb.baseAddress!
            DispatchQueue.concurrentPerform(iterations: bands) { band in
                let y0 = side &* band / bands, y1 = side &* (band &+ 1) / bands
                var i = y0 &* side
                let end = y1 &* side
                while i < end {
                    let t = Int(tri[i])
                    let o = 3 &* i
                    if t < 0 {
                        out[o] = bg[o]; out[o &+ 1] = bg[o &+ 1]; out[o &+ 2] = bg[o &+ 2]
                        i &+= 1; continue
                    }
                    let ia = Int(f[3 &* t]), ib = Int(f[3 &* t &+ 1]), ic = Int(f[3 &* t &+ 2])
                    // Perspective-correct weights from screen barycentrics and 1/w.
                    let s1 = ba[2 &* i], s2 = ba[2 &* i &+ 1], s0 = 1 - s1 - s2
                    var w0 = s0 * scr[3 &* ia &+ 2], w1 = s1 * scr[3 &* ib &+ 2], w2 = s2 * scr[3 &* ic &+ 2]
                    let norm = 1 / (w0 + w1 + w2)
                    w0 *= norm; w1 *= norm; w2 *= norm
                    @inline(__always) func lerp3(_ p: UnsafePointer<Float>) -> SIMD3<Float> {
                        let a = 3 &* ia, b = 3 &* ib, c = 3 &* ic
                        return SIMD3(p[a], p[a &+ 1], p[a &+ 2]) * w0 + SIMD3(p[b], p[b &+ 1], p[b &+ 2]) * w1 + SIMD3(p[c], p[c &+ 1], p[c &+ 2]) * w2
                    }
                    var n = lerp3(nrm)
                    n /= max(1e-6, (n * n).sum().squareRoot())
                    let backFacing = n.z < -0.05 && HeadRenderer.faceIsBack(scr, ia, ib, ic)
                    if backFacing { n = -n }
                    let p = lerp3(rest)
                    let part = parts[t]
                    var albedo: SIMD3<Float>
                    var spec: Float = 0.05, shininess: Float = 18, wrap: Float = 0.3
                    var occlusion: Float = 1
                    switch part {
                    case 1, 2:
                        // Eyeball: sclera, iris and pupil by the angle from the eye's forward axis.
                        let c = part == 1 ? lm.eyeCentres.0 : lm.eyeCentres.1
                        let fwd = part == 1 ? lm.eyeForward.0 : lm.eyeForward.1
                        var d = p - c
                        d /= max(1e-6, (d * d).sum().squareRoot())
                        let cosA = min(1, max(-1, (d * fwd).sum()))
                        let ang = acos(cosA)
                        if ang < 0.2 { albedo = SIMD3(repeating: 0.01) }
                        else if ang < 0.5 {
                            let ring = FaceLandmarks.smooth(0.38, 0.5, ang)
                            let fibres = 0.85 + 0.3 * HeadRenderer.hash(Int(atan2(d.y, d.x) * 24), 0, id.seed)
                            albedo = id.iris * fibres * (1 - 0.7 * ring)
                        } else {
                            albedo = SIMD3(0.78, 0.74, 0.7) * (1 - 0.35 * FaceLandmarks.smooth(0.9, 1.4, ang))
                        }
                        spec = 0.9; shininess = 90; wrap = 0
                        occlusion = 0.85
                    case 3, 4:
                        albedo = SIMD3(0.8, 0.77, 0.68); spec = 0.25; shininess = 30; wrap = 0.1
                        occlusion = 0.25 + 0.75 * FaceLandmarks.smooth(lm.lipZ - 0.45, lm.lipZ - 0.05, p.z)
                    case 5:
                        albedo = SIMD3(0.55, 0.17, 0.17); spec = 0.15; shininess = 20
                        occlusion = 0.2 + 0.6 * FaceLandmarks.smooth(lm.lipZ - 0.6, lm.lipZ - 0.05, p.z)
                    default:
                        let u = fuv
                        let ua = 2 &* Int(u[3 &* t]), ub2 = 2 &* Int(u[3 &* t &+ 1]), uc = 2 &* Int(u[3 &* t &+ 2])
                        let tu = uvs[ua] * w0 + uvs[ub2] * w1 + uvs[uc] * w2
                        let tv = uvs[ua &+ 1] * w0 + uvs[ub2 &+ 1] * w1 + uvs[uc &+ 1] * w2
                        let detail = HeadRenderer.bilinear(tex, side: HeadRenderer.textureSide, tu, tv)
                        albedo = id.skin * detail
                        // Cheeks flush a little; lips take their tint.
                        let dc = min(((p - lm.cheeks.0) * (p - lm.cheeks.0)).sum(), ((p - lm.cheeks.1) * (p - lm.cheeks.1)).sum())
                        albedo *= SIMD3(1, 1 - 0.25 * id.blush * exp(-dc / 0.05), 1 - 0.3 * id.blush * exp(-dc / 0.05))
                        let lip = lm.lipMask(p)
                        if lip > 0 { albedo = albedo * (1 - lip) + (id.skin * id.lipTint * 1.1) * lip; spec += 0.1 * lip }
                        let brow = lm.browMask(p, thickness: id.browThickness)
                        if brow > 0 {
                            let strands = 0.75 + 0.5 * HeadRenderer.hash(Int(p.x * 300), Int(p.y * 60), id.seed)
                            let b = brow * min(1, strands)
                            albedo = albedo * (1 - b) + id.brow * b
                        }
                        let hair = lm.hairMask(p, identity: id)
                        if hair > 0 {
                            let phi = atan2(p.x, p.z - FaceLandmarks.headCentreZ)
                            let wave = sin(70 * phi + 9 * sin(4 * p.y) + 6 * HeadRenderer.valueNoise(Int(phi * 40), Int(p.y * 12), cell: 3, seed: id.seed))
                            let strands = 0.82 + 0.12 * wave + 0.2 * (HeadRenderer.hash(Int(phi * 300), Int(p.y * 20), id.seed) - 0.5)
                            albedo = albedo * (1 - hair) + id.hair * strands * hair
                            spec = spec * (1 - hair) + 0.12 * hair; shininess = 12
                        }
                        let cav = cavities[ia] * w0 + cavities[ib] * w1 + cavities[ic] * w2
                        if cav > 0 {
                            albedo = albedo * (1 - cav) + SIMD3(0.35, 0.08, 0.08) * cav
                            occlusion = 1 - cav * (0.8 - 0.6 * FaceLandmarks.smooth(lm.lipZ - 0.8, lm.lipZ - 0.1, p.z))
                        }
                    }
                    if backFacing { occlusion *= 0.3 }
                    let nl = (n * L).sum()
                    let diffuse = max(0, (nl + wrap) / (1 + wrap))
                    let fill = max(0, (n * F).sum())
                    let sky = 0.75 + 0.25 * n.y
                    var c = albedo * (id.lightColour * diffuse + SIMD3(repeating: id.fill * fill + id.ambient * sky)) * occlusion
                    if nl > 0 {
                        var h = L + SIMD3(0, 0, 1)
                        h /= (h * h).sum().squareRoot()
                        let nh = max(0, (n * h).sum())
                        c += id.lightColour * (spec * pow(nh, shininess) * occlusion)
                    }
                    out[o] = c.x; out[o &+ 1] = c.y; out[o &+ 2] = c.z
                    i &+= 1
                }
            }
                                                    }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// True when the triangle's screen winding is clockwise (its back faces the camera).
    @inline(__always) static func faceIsBack(_ s: UnsafePointer<Float>, _ a: Int, _ b: Int, _ c: Int) -> Bool {
        let ax = s[3 &* a], ay = s[3 &* a &+ 1], bx = s[3 &* b], by = s[3 &* b &+ 1], cx = s[3 &* c], cy = s[3 &* c &+ 1]
        return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax) > 0
    }

    /// 2×2 box filter of the supersampled colours, then sRGB bytes.
    func resolve(into rgb: UnsafeMutablePointer<UInt8>) {
        let n = size, side = ss
        colour.withUnsafeBufferPointer { cb in
            HeadRenderer.gammaTable.withUnsafeBufferPointer { gb in
                let c = cb.baseAddress!, g = gb.baseAddress!
                for y in 0..<n {
                    let r0 = 2 &* y &* side, r1 = r0 &+ side
                    for x in 0..<n {
                        let a = 3 &* (r0 &+ 2 &* x), b = 3 &* (r1 &+ 2 &* x)
                        let o = 3 &* (y &* n &+ x)
                        for k in 0..<3 {
                            let v = 0.25 * (c[a &+ k] + c[a &+ 3 &+ k] + c[b &+ k] + c[b &+ 3 &+ k])
                            rgb[o &+ k] = g[Int(min(1, max(0, v)) * 4095)]
                        }
                    }
                }
            }
        }
    }
}
