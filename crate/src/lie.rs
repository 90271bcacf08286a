//! Matrix Lie groups, in f64: exp, log, products, lifting of point clouds, and neighbourhoods by
//! a left-invariant distance, batched so the facade never loops over elements.
//!
//! Elements are `n x n` matrices, row-major: `R` for SO(d), `[[R, t], [0, 1]]` for SE(d), and
//! `[[I, t], [0, 1]]` for the translations T(d). Lie-algebra coordinates: T(d) `t`; SO(2) `[θ]`;
//! SE(2) `[θ, u1, u2]`; SO(3) `ω` (axis times angle); SE(3) `[ω, u]`. `log` returns angles in
//! `(-π, π]` (SO(2), SE(2)) or `[0, π]` (SO(3), SE(3)), with closed forms that stay accurate
//! near 0 and near π.
//!
//! **Distance** (documented in docs/groups.md): with `(ω, u) = log(g^-1 g')`,
//! T(d): `|u|`; SE(d): `α |ω| + (1 - α) |u|`; SO(d): `α |ω| + (1 - α) |q - q'|` where `q = |x|`
//! is the orbit of the lifted point. It is left-invariant (`(hg)^-1 hg' = g^-1 g'`) and
//! symmetric (`log(x^-1) = -log(x)`). For SE(d), `u = V(ω)^-1 R^T (x' - x)` and `V` has
//! operator norm at most 1, so `|u| >= |x' - x|`: `(1 - α) |x' - x|` is a lower bound of the
//! distance, which is what lets a spatial grid over the points find the exact k nearest.

/// The groups, by the code the facade passes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    T2,
    T3,
    SO2,
    SE2,
    SO3,
    SE3,
}

impl Kind {
    pub fn from_code(c: u32) -> Option<Kind> {
        Some(match c {
            0 => Kind::T2,
            1 => Kind::T3,
            2 => Kind::SO2,
            3 => Kind::SE2,
            4 => Kind::SO3,
            5 => Kind::SE3,
            _ => return None,
        })
    }
    /// Side of the element matrices.
    pub fn n(self) -> usize {
        match self {
            Kind::SO2 => 2,
            Kind::T2 | Kind::SE2 | Kind::SO3 => 3,
            Kind::T3 | Kind::SE3 => 4,
        }
    }
    /// Dimension of the space the group acts on.
    pub fn d(self) -> usize {
        match self {
            Kind::T2 | Kind::SO2 | Kind::SE2 => 2,
            _ => 3,
        }
    }
    /// Dimension of the Lie algebra.
    pub fn a(self) -> usize {
        match self {
            Kind::SO2 => 1,
            Kind::T2 => 2,
            Kind::T3 | Kind::SE2 | Kind::SO3 => 3,
            Kind::SE3 => 6,
        }
    }
    /// Whether elements carry a translation (T and SE).
    pub fn affine(self) -> bool {
        !matches!(self, Kind::SO2 | Kind::SO3)
    }
    /// Whether elements carry a rotation (SO and SE).
    pub fn rotates(self) -> bool {
        !matches!(self, Kind::T2 | Kind::T3)
    }
    /// Whether lifted elements carry an orbit coordinate `q = |x|` (SO(d)).
    pub fn has_orbit(self) -> bool {
        matches!(self, Kind::SO2 | Kind::SO3)
    }
}

// ---------------------------------------------------------------------------------------------
// Small dense helpers (3x3 at most for rotations).

type M3 = [[f64; 3]; 3];

fn hat(w: [f64; 3]) -> M3 {
    [[0.0, -w[2], w[1]], [w[2], 0.0, -w[0]], [-w[1], w[0], 0.0]]
}

fn mm3(a: &M3, b: &M3) -> M3 {
    let mut c = [[0.0; 3]; 3];
    for i in 0..3 {
        for k in 0..3 {
            for j in 0..3 {
                c[i][j] += a[i][k] * b[k][j];
            }
        }
    }
    c
}

/// `I + a K + b K^2` for `K = hat(w)`.
fn poly3(w: [f64; 3], a: f64, b: f64) -> M3 {
    let k = hat(w);
    let k2 = mm3(&k, &k);
    let mut out = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            out[i][j] = if i == j { 1.0 } else { 0.0 } + a * k[i][j] + b * k2[i][j];
        }
    }
    out
}

fn mv3(m: &M3, v: [f64; 3]) -> [f64; 3] {
    core::array::from_fn(|i| m[i][0] * v[0] + m[i][1] * v[1] + m[i][2] * v[2])
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Rodrigues: `exp(hat(w))`.
fn so3_exp(w: [f64; 3]) -> M3 {
    let t = norm(&w);
    let t2 = t * t;
    let a = if t < 1e-4 { 1.0 - t2 / 6.0 } else { t.sin() / t };
    let b = if t < 1e-4 { 0.5 - t2 / 24.0 } else { (1.0 - t.cos()) / t2 };
    poly3(w, a, b)
}

/// Axis times angle of a rotation, angle in `[0, π]`; near π the axis comes from the symmetric
/// part `(R + R^T)/2 = cos θ I + (1 - cos θ) a a^T`, where the antisymmetric part vanishes.
fn so3_log(r: &M3) -> [f64; 3] {
    let vee = [r[2][1] - r[1][2], r[0][2] - r[2][0], r[1][0] - r[0][1]]; // 2 sin θ a
    let c = (r[0][0] + r[1][1] + r[2][2] - 1.0) / 2.0;
    let t = (norm(&vee) / 2.0).atan2(c);
    if t < 1e-4 {
        return vee.map(|x| x / 2.0 * (1.0 + t * t / 6.0));
    }
    if core::f64::consts::PI - t > 0.1 {
        return vee.map(|x| x * t / (2.0 * t.sin()));
    }
    let aa = |i: usize, j: usize| ((r[i][j] + r[j][i]) / 2.0 - if i == j { c } else { 0.0 }) / (1.0 - c);
    let diag = [aa(0, 0), aa(1, 1), aa(2, 2)];
    let mut i = 0;
    for k in 1..3 {
        if diag[k] > diag[i] {
            i = k;
        }
    }
    let col = [aa(0, i), aa(1, i), aa(2, i)];
    let nrm = norm(&col);
    let mut axis = col.map(|x| x / nrm);
    let along = axis[0] * vee[0] + axis[1] * vee[1] + axis[2] * vee[2];
    // At π itself `a` and `-a` give the same rotation and `vee` is rounding noise: pick the
    // sign with the largest component positive, so equal matrices give equal logs.
    let flip = if norm(&vee) > 1e-7 { along < 0.0 } else { axis[i] < 0.0 };
    if flip {
        axis = axis.map(|x| -x);
    }
    axis.map(|x| x * t)
}

/// The angle of a plane rotation in `(-π, π]`: a relative rotation of exactly π (opposite
/// samples of one point) can come out as `-π` or `π` from rounding, so values within 1e-9 of
/// `-π` are taken as `π`, and equal matrices give equal logs.
fn planar_angle(r: &M3) -> f64 {
    let th = r[1][0].atan2(r[0][0]);
    if th <= -core::f64::consts::PI + 1e-9 {
        core::f64::consts::PI
    } else {
        th
    }
}

/// SE(2)'s `V(θ) = [[a, -b], [b, a]]`: `a = sin θ / θ`, `b = (1 - cos θ) / θ`.
fn se2_v(t: f64) -> (f64, f64) {
    if t.abs() < 1e-4 {
        (1.0 - t * t / 6.0, t / 2.0 - t * t * t / 24.0)
    } else {
        (t.sin() / t, (1.0 - t.cos()) / t)
    }
}

/// SE(3)'s `V^-1 = I - K/2 + k K^2`, `k = (1 - θ sin θ / (2 (1 - cos θ))) / θ^2`.
fn se3_vinv_coeff(t: f64) -> f64 {
    if t < 1e-4 {
        1.0 / 12.0 + t * t / 720.0
    } else {
        (1.0 - t * t.sin() / (2.0 * (1.0 - t.cos()))) / (t * t)
    }
}

/// SE(3)'s `V = I + B K + C K^2`.
fn se3_v_coeffs(t: f64) -> (f64, f64) {
    let t2 = t * t;
    if t < 1e-4 {
        (0.5 - t2 / 24.0, 1.0 / 6.0 - t2 / 120.0)
    } else {
        ((1.0 - t.cos()) / t2, (t - t.sin()) / (t2 * t))
    }
}

// ---------------------------------------------------------------------------------------------
// Elements.

fn rot_block(k: Kind, g: &[f64]) -> M3 {
    let n = k.n();
    let d = k.d();
    let mut r = [[0.0; 3]; 3];
    if !k.rotates() {
        for (i, row) in r.iter_mut().enumerate() {
            row[i] = 1.0;
        }
        return r;
    }
    for i in 0..d {
        for j in 0..d {
            r[i][j] = g[i * n + j];
        }
    }
    if d == 2 {
        r[2][2] = 1.0;
    }
    r
}

fn translation(k: Kind, g: &[f64]) -> [f64; 3] {
    let mut t = [0.0; 3];
    if k.affine() {
        let n = k.n();
        for (i, ti) in t.iter_mut().enumerate().take(k.d()) {
            *ti = g[i * n + k.d()];
        }
    }
    t
}

/// Writes the element with rotation `r` (its d x d block) and translation `t`.
fn write_element(k: Kind, r: &M3, t: [f64; 3], out: &mut [f64]) {
    let n = k.n();
    let d = k.d();
    out[..n * n].fill(0.0);
    for i in 0..d {
        for j in 0..d {
            out[i * n + j] = if k.rotates() { r[i][j] } else if i == j { 1.0 } else { 0.0 };
        }
    }
    if k.affine() {
        for i in 0..d {
            out[i * n + d] = t[i];
        }
        out[d * n + d] = 1.0;
    }
}

/// `exp(v)` into `out` (`n*n`).
pub fn exp(k: Kind, v: &[f64], out: &mut [f64]) {
    let rz = |t: f64| -> M3 { [[t.cos(), -t.sin(), 0.0], [t.sin(), t.cos(), 0.0], [0.0, 0.0, 1.0]] };
    match k {
        Kind::T2 => write_element(k, &rz(0.0), [v[0], v[1], 0.0], out),
        Kind::T3 => write_element(k, &rz(0.0), [v[0], v[1], v[2]], out),
        Kind::SO2 => write_element(k, &rz(v[0]), [0.0; 3], out),
        Kind::SE2 => {
            let (a, b) = se2_v(v[0]);
            write_element(k, &rz(v[0]), [a * v[1] - b * v[2], b * v[1] + a * v[2], 0.0], out)
        }
        Kind::SO3 => write_element(k, &so3_exp([v[0], v[1], v[2]]), [0.0; 3], out),
        Kind::SE3 => {
            let w = [v[0], v[1], v[2]];
            let (b, c) = se3_v_coeffs(norm(&w));
            let t = mv3(&poly3(w, b, c), [v[3], v[4], v[5]]);
            write_element(k, &so3_exp(w), t, out)
        }
    }
}

/// `log(g)` into `out` (`a` values).
pub fn log(k: Kind, g: &[f64], out: &mut [f64]) {
    let r = rot_block(k, g);
    let t = translation(k, g);
    log_rt(k, &r, t, out)
}

/// `log` of the element with rotation `r` and translation `t`.
fn log_rt(k: Kind, r: &M3, t: [f64; 3], out: &mut [f64]) {
    match k {
        Kind::T2 => out[..2].copy_from_slice(&t[..2]),
        Kind::T3 => out[..3].copy_from_slice(&t),
        Kind::SO2 => out[0] = planar_angle(r),
        Kind::SE2 => {
            let th = planar_angle(r);
            let (a, b) = se2_v(th);
            let s = a * a + b * b;
            out[0] = th;
            out[1] = (a * t[0] + b * t[1]) / s;
            out[2] = (-b * t[0] + a * t[1]) / s;
        }
        Kind::SO3 => out[..3].copy_from_slice(&so3_log(r)),
        Kind::SE3 => {
            let w = so3_log(r);
            let vi = poly3(w, -0.5, se3_vinv_coeff(norm(&w)));
            out[..3].copy_from_slice(&w);
            out[3..6].copy_from_slice(&mv3(&vi, t));
        }
    }
}

/// `g^-1 h` as (rotation, translation): `(R_g^T R_h, R_g^T (t_h - t_g))`.
fn relative(k: Kind, g: &[f64], h: &[f64]) -> (M3, [f64; 3]) {
    let rg = rot_block(k, g);
    let rh = rot_block(k, h);
    let (tg, th) = (translation(k, g), translation(k, h));
    let mut r = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            r[i][j] = rg[0][i] * rh[0][j] + rg[1][i] * rh[1][j] + rg[2][i] * rh[2][j];
        }
    }
    let dt = [th[0] - tg[0], th[1] - tg[1], th[2] - tg[2]];
    let t = core::array::from_fn(|i| rg[0][i] * dt[0] + rg[1][i] * dt[1] + rg[2][i] * dt[2]);
    (r, t)
}

/// `log(g^-1 h)` into `out` (`a` values).
pub fn rel_log(k: Kind, g: &[f64], h: &[f64], out: &mut [f64]) {
    let (r, t) = relative(k, g, h);
    log_rt(k, &r, t, out)
}

/// The distance of the module comment, from `log(g^-1 h)` and the orbits (SO(d)).
pub fn distance_from_log(k: Kind, v: &[f64], q: f64, q2: f64, alpha: f64) -> f64 {
    match k {
        Kind::T2 | Kind::T3 => norm(&v[..k.a()]),
        Kind::SE2 => alpha * v[0].abs() + (1.0 - alpha) * norm(&v[1..3]),
        Kind::SE3 => alpha * norm(&v[..3]) + (1.0 - alpha) * norm(&v[3..6]),
        Kind::SO2 | Kind::SO3 => alpha * norm(&v[..k.a()]) + (1.0 - alpha) * (q - q2).abs(),
    }
}

/// `u g` for every `g` (`count` elements, `n*n` each) into `out`.
pub fn compose_left(k: Kind, u: &[f64], gs: &[f64], count: usize, out: &mut [f64]) {
    let n = k.n();
    for e in 0..count {
        let g = &gs[e * n * n..(e + 1) * n * n];
        let o = &mut out[e * n * n..(e + 1) * n * n];
        for i in 0..n {
            for j in 0..n {
                let mut s = 0.0;
                for m in 0..n {
                    s += u[i * n + m] * g[m * n + j];
                }
                o[i * n + j] = s;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Lifting.

/// Uniform numbers in `[0, 1)`: mulberry32 from a seed (the facade's `seededRng`, bit for bit),
/// or numbers the caller drew.
pub enum Uniforms<'a> {
    Seeded(u32),
    Given { values: &'a [f64], at: usize },
}

impl Uniforms<'_> {
    pub fn next(&mut self) -> Result<f64, String> {
        match self {
            Uniforms::Seeded(s) => {
                *s = s.wrapping_add(0x6d2b_79f5);
                let mut t = *s;
                t = (t ^ (t >> 15)).wrapping_mul(t | 1);
                t ^= t.wrapping_add((t ^ (t >> 7)).wrapping_mul(t | 61));
                Ok(((t ^ (t >> 14)) as f64) / 4_294_967_296.0)
            }
            Uniforms::Given { values, at } => {
                let v = *values.get(*at).ok_or("lift: ran out of random numbers")?;
                *at += 1;
                if !(0.0..1.0).contains(&v) {
                    return Err(format!("lift: the random source gave {v}, outside [0, 1)"));
                }
                Ok(v)
            }
        }
    }
    fn gauss(&mut self) -> Result<f64, String> {
        let (a, b) = (self.next()?, self.next()?);
        Ok((-2.0 * (1.0 - a).ln()).sqrt() * (2.0 * core::f64::consts::PI * b).cos())
    }
}

/// How many uniform numbers [`lift`] draws for `count` points of `samples` elements (the facade
/// asks a JavaScript source for them): one offset per point for SE(2), one turn per sample for
/// SO(3), eight per sample (four normal numbers) for SE(3).
pub fn uniforms_needed(k: Kind, count: usize, samples: usize) -> usize {
    match k {
        Kind::T2 | Kind::T3 | Kind::SO2 => 0,
        Kind::SE2 => count,
        Kind::SO3 => count * samples,
        Kind::SE3 => 8 * count * samples,
    }
}

/// A Haar-random rotation: a uniform unit quaternion from four normal numbers.
fn random_so3(u: &mut Uniforms) -> Result<M3, String> {
    let q = [u.gauss()?, u.gauss()?, u.gauss()?, u.gauss()?];
    let nq = norm(&q);
    let [w, x, y, z] = q.map(|v| v / nq);
    Ok([
        [1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y - z * w), 2.0 * (x * z + y * w)],
        [2.0 * (x * y + z * w), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z - x * w)],
        [2.0 * (x * z - y * w), 2.0 * (y * z + x * w), 1.0 - 2.0 * (x * x + y * y)],
    ])
}

/// A rotation taking e3 to the unit vector `p`.
fn align_e3(p: [f64; 3]) -> M3 {
    let axis = [-p[1], p[0], 0.0]; // e3 x p
    let s = norm(&axis);
    let angle = s.atan2(p[2]);
    if s > 1e-12 {
        so3_exp(axis.map(|v| v / s * angle))
    } else if p[2] > 0.0 {
        so3_exp([0.0; 3])
    } else {
        so3_exp([core::f64::consts::PI, 0.0, 0.0])
    }
}

/// Lifts `count` points (`d` coordinates each) to `samples` elements each, point-major (element
/// `p * samples + s`), as LieConv and LieTransformer do:
/// - T(d): the translation to the point (`samples` must be 1);
/// - SE(2): rotations by `θ0 + 2π s / samples` (evenly spaced, one uniform offset `θ0` per
///   point), translated to the point;
/// - SE(3): `samples` Haar-random rotations, translated to the point;
/// - SO(2): the rotation taking `(|x|, 0)` to `x` (`samples` must be 1);
/// - SO(3): the rotation taking `|x| e3` to `x` after a uniformly random turn about e3 (the
///   stabiliser), one per sample.
///
/// For SO(d) `orbit[e] = |x|`, and a point at the origin (where the orbit is not a circle or a
/// sphere) is refused.
pub fn lift(k: Kind, points: &[f64], count: usize, samples: usize, u: &mut Uniforms, out: &mut [f64], orbit: &mut [f64]) -> Result<(), String> {
    let (d, n) = (k.d(), k.n());
    if samples == 0 {
        return Err("lift: samples must be at least 1".into());
    }
    if matches!(k, Kind::T2 | Kind::T3 | Kind::SO2) && samples != 1 {
        return Err(format!("lift: on {k:?} a point has a single element (the stabiliser is trivial), so samples must be 1, got {samples}"));
    }
    let two_pi = 2.0 * core::f64::consts::PI;
    for p in 0..count {
        let x: [f64; 3] = core::array::from_fn(|i| if i < d { points[p * d + i] } else { 0.0 });
        if let Some(i) = x[..d].iter().position(|v| !v.is_finite()) {
            return Err(format!("lift: point {p} has a non-finite coordinate ({} at index {i})", x[i]));
        }
        let r = norm(&x);
        if k.has_orbit() && !(r > 1e-12) {
            return Err(format!("lift: point {p} is at the origin, where its orbit under {k:?} is not defined"));
        }
        let mut offset = 0.0;
        for s in 0..samples {
            let e = p * samples + s;
            let o = &mut out[e * n * n..(e + 1) * n * n];
            match k {
                Kind::T2 | Kind::T3 => write_element(k, &[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], x, o),
                Kind::SE2 => {
                    if s == 0 {
                        offset = two_pi * u.next()? - core::f64::consts::PI;
                    }
                    let th = offset + two_pi * s as f64 / samples as f64;
                    let rz = [[th.cos(), -th.sin(), 0.0], [th.sin(), th.cos(), 0.0], [0.0, 0.0, 1.0]];
                    write_element(k, &rz, x, o)
                }
                Kind::SE3 => write_element(k, &random_so3(u)?, x, o),
                Kind::SO2 => {
                    let th = x[1].atan2(x[0]);
                    write_element(k, &[[th.cos(), -th.sin(), 0.0], [th.sin(), th.cos(), 0.0], [0.0, 0.0, 1.0]], [0.0; 3], o)
                }
                Kind::SO3 => {
                    let phi = two_pi * u.next()? - core::f64::consts::PI;
                    let turn = so3_exp([0.0, 0.0, phi]);
                    write_element(k, &mm3(&align_e3(x.map(|v| v / r)), &turn), [0.0; 3], o)
                }
            }
            if k.has_orbit() {
                orbit[e] = r;
            }
        }
    }
    Ok(())
}

/// Lifts `batch` clouds of `count` points (`[batch, count, d]`). Each cloud restarts the seeded
/// stream and only its present points (`mask` 1; all when there is no mask) draw from it, so a
/// cloud's elements depend on its own points alone, never on its place in a batch or on padding
/// (a batch split over workers lifts exactly as a whole). Absent points get identity elements.
#[allow(clippy::too_many_arguments)]
pub fn lift_clouds(k: Kind, points: &[f64], batch: usize, count: usize, mask: Option<&[f32]>, samples: usize, seed: u32, out: &mut [f64], orbit: &mut [f64]) -> Result<(), String> {
    let (d, nn) = (k.d(), k.n() * k.n());
    let mut identity = vec![0.0; nn];
    for i in 0..k.n() {
        identity[i * k.n() + i] = 1.0;
    }
    let mut pts = Vec::with_capacity(count * d);
    let mut which = Vec::with_capacity(count);
    let mut tmp = vec![0.0; count * samples * nn];
    let mut tmp_orbit = vec![0.0; if k.has_orbit() { count * samples } else { 0 }];
    for b in 0..batch {
        pts.clear();
        which.clear();
        for p in 0..count {
            let present = match mask {
                None => true,
                Some(m) => {
                    let v = m[b * count + p];
                    if v != 0.0 && v != 1.0 {
                        return Err(format!("lift: mask[{b}, {p}] is {v}; a mask holds 1 (present) or 0 (absent)"));
                    }
                    v == 1.0
                }
            };
            let at = (b * count + p) * samples;
            if present {
                pts.extend_from_slice(&points[(b * count + p) * d..(b * count + p + 1) * d]);
                which.push(p);
            } else {
                for s in 0..samples {
                    out[(at + s) * nn..(at + s + 1) * nn].copy_from_slice(&identity);
                    if k.has_orbit() {
                        orbit[at + s] = 1.0;
                    }
                }
            }
        }
        let v = which.len();
        lift(k, &pts, v, samples, &mut Uniforms::Seeded(seed), &mut tmp[..v * samples * nn], &mut tmp_orbit[..if k.has_orbit() { v * samples } else { 0 }])
            .map_err(|e| format!("cloud {b}: {e}"))?;
        for (i, &p) in which.iter().enumerate() {
            let at = (b * count + p) * samples;
            out[at * nn..(at + samples) * nn].copy_from_slice(&tmp[i * samples * nn..(i + 1) * samples * nn]);
            if k.has_orbit() {
                orbit[at..at + samples].copy_from_slice(&tmp_orbit[i * samples..(i + 1) * samples]);
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Neighbourhoods: compressed lists (`offsets[m + 1]`, `indices`) over elements grouped in clouds
// (`cloud[e]`; `u32::MAX` marks a masked element, which has no neighbours and is nobody's).

pub const MASKED: u32 = u32::MAX;

/// The members of each cloud, in index order.
fn clouds(cloud: &[u32]) -> Vec<(u32, Vec<u32>)> {
    let mut order: Vec<(u32, Vec<u32>)> = Vec::new();
    let mut at = std::collections::HashMap::new();
    for (e, &c) in cloud.iter().enumerate() {
        if c == MASKED {
            continue;
        }
        let slot = *at.entry(c).or_insert_with(|| {
            order.push((c, Vec::new()));
            order.len() - 1
        });
        order[slot].1.push(e as u32);
    }
    order
}

/// Every element of the query's cloud (itself included), in index order.
pub fn global(cloud: &[u32], offsets: &mut [u32], indices: &mut [u32]) -> Result<(), String> {
    let m = cloud.len();
    let groups = clouds(cloud);
    let mut size = vec![0u32; m];
    for (_, members) in &groups {
        for &e in members {
            size[e as usize] = members.len() as u32;
        }
    }
    let mut by_cloud = std::collections::HashMap::new();
    for (c, members) in &groups {
        by_cloud.insert(*c, members);
    }
    offsets[0] = 0;
    let mut at = 0usize;
    for e in 0..m {
        if cloud[e] != MASKED {
            let members = by_cloud[&cloud[e]];
            indices[at..at + members.len()].copy_from_slice(members);
            at += members.len();
        }
        offsets[e + 1] = at as u32;
    }
    Ok(())
}

/// Number of pairs [`global`] writes, in u64: on wasm32 a `usize` square of 65,536 members
/// already wraps to 0.
pub fn global_len(cloud: &[u32]) -> u64 {
    clouds(cloud).iter().map(|(_, m)| m.len() as u64 * m.len() as u64).sum()
}

/// A uniform grid of cells over the points of one cloud: cell -> its elements.
struct Grid {
    d: usize,
    lo: [f64; 3],
    h: f64,
    dims: [usize; 3],
    start: Vec<u32>,
    items: Vec<u32>,
}

impl Grid {
    fn new(members: &[u32], pos: &dyn Fn(u32) -> [f64; 3], d: usize, per_cell: f64) -> Grid {
        let mut lo = [f64::INFINITY; 3];
        let mut hi = [f64::NEG_INFINITY; 3];
        for &e in members {
            let p = pos(e);
            for i in 0..d {
                lo[i] = lo[i].min(p[i]);
                hi[i] = hi[i].max(p[i]);
            }
        }
        let mut vol = 1.0;
        for i in 0..d {
            vol *= (hi[i] - lo[i]).max(1e-9);
        }
        // About `per_cell` elements per cell, at most ~4 cells per element, at most 128 per axis.
        let mut h = (vol * per_cell / members.len().max(1) as f64).powf(1.0 / d as f64).max(1e-9);
        let mut dims = [1usize; 3];
        loop {
            for i in 0..d {
                dims[i] = (((hi[i] - lo[i]) / h).floor() as usize + 1).min(128);
            }
            if dims.iter().product::<usize>() <= 4 * members.len() + 8 {
                break;
            }
            h *= 1.25;
        }
        let cells: usize = dims.iter().product();
        let mut count = vec![0u32; cells + 1];
        let cell_of = |p: [f64; 3]| -> usize {
            let mut c = 0;
            for i in (0..d).rev() {
                let ci = (((p[i] - lo[i]) / h).floor() as usize).min(dims[i] - 1);
                c = c * dims[i] + ci;
            }
            c
        };
        for &e in members {
            count[cell_of(pos(e)) + 1] += 1;
        }
        for c in 0..cells {
            count[c + 1] += count[c];
        }
        let mut fill = count.clone();
        let mut items = vec![0u32; members.len()];
        for &e in members {
            let c = cell_of(pos(e));
            items[fill[c] as usize] = e;
            fill[c] += 1;
        }
        Grid { d, lo, h, dims, start: count, items }
    }

    fn coords(&self, p: [f64; 3]) -> [isize; 3] {
        core::array::from_fn(|i| if i < self.d { (((p[i] - self.lo[i]) / self.h).floor() as isize).clamp(0, self.dims[i] as isize - 1) } else { 0 })
    }

    /// Calls `visit` for every item in the cells within Chebyshev distance `r` of cell `c`.
    fn cube(&self, c: [isize; 3], r: isize, visit: &mut dyn FnMut(u32)) {
        let lo: [isize; 3] = core::array::from_fn(|i| if i < self.d { (c[i] - r).max(0) } else { 0 });
        let hi: [isize; 3] = core::array::from_fn(|i| if i < self.d { (c[i] + r).min(self.dims[i] as isize - 1) } else { 0 });
        for z in lo[2]..=hi[2] {
            for y in lo[1]..=hi[1] {
                for x in lo[0]..=hi[0] {
                    let q = [x, y, z];
                    let mut id = 0usize;
                    for i in (0..self.d).rev() {
                        id = id * self.dims[i] + q[i] as usize;
                    }
                    for &e in &self.items[self.start[id] as usize..self.start[id + 1] as usize] {
                        visit(e);
                    }
                }
            }
        }
    }

    /// Calls `visit` for every element in the cells at Chebyshev distance exactly `r` from cell
    /// `c`; returns false when the ring lies wholly outside the grid.
    fn ring(&self, c: [isize; 3], r: isize, visit: &mut dyn FnMut(u32)) -> bool {
        let mut any = false;
        let span = |i: usize| if i < self.d { r } else { 0 };
        for dz in -span(2)..=span(2) {
            for dy in -span(1)..=span(1) {
                for dx in -span(0)..=span(0) {
                    if dx.abs().max(dy.abs()).max(dz.abs()) != r {
                        continue;
                    }
                    let q = [c[0] + dx, c[1] + dy, c[2] + dz];
                    if (0..self.d).any(|i| q[i] < 0 || q[i] >= self.dims[i] as isize) {
                        continue;
                    }
                    any = true;
                    let mut id = 0usize;
                    for i in (0..self.d).rev() {
                        id = id * self.dims[i] + q[i] as usize;
                    }
                    for &e in &self.items[self.start[id] as usize..self.start[id + 1] as usize] {
                        visit(e);
                    }
                }
            }
        }
        any
    }
}

/// The best `k` (distance, index) pairs seen, with a value kept along (the half angle of SE(3)
/// pairs, reused for their logs). A pair is one integer key, the distance's bits (monotone for
/// distances >= 0) above the index, so (distance, index) order is one comparison; the first `k`
/// offers are kept as they come and then made a max-heap at once, so each later offer costs at
/// most `log k` moves.
struct Best {
    k: usize,
    keys: Vec<u128>,
    aux: Vec<f64>,
    scratch: Vec<(u128, f64)>,
}

impl Best {
    fn new(k: usize) -> Best {
        Best { k, keys: Vec::with_capacity(k), aux: Vec::with_capacity(k), scratch: Vec::with_capacity(k) }
    }
    #[inline(always)]
    fn key(d: f64, e: u32) -> u128 {
        // + 0.0 turns a -0.0 into 0.0.
        (((d + 0.0).to_bits() as u128) << 32) | e as u128
    }
    #[inline(always)]
    fn full(&self) -> bool {
        self.keys.len() == self.k
    }
    #[inline(always)]
    fn worst(&self) -> f64 {
        if self.full() {
            f64::from_bits((self.keys[0] >> 32) as u64)
        } else {
            f64::INFINITY
        }
    }
    /// Moves `(key, aux)` down from slot `i` to its place in the heap.
    fn sift(&mut self, mut i: usize, key: u128, aux: f64) {
        let n = self.keys.len();
        loop {
            let l = 2 * i + 1;
            if l >= n {
                break;
            }
            let m = if l + 1 < n && self.keys[l + 1] > self.keys[l] { l + 1 } else { l };
            if self.keys[m] <= key {
                break;
            }
            self.keys[i] = self.keys[m];
            self.aux[i] = self.aux[m];
            i = m;
        }
        self.keys[i] = key;
        self.aux[i] = aux;
    }
    fn offer(&mut self, d: f64, e: u32, aux: f64) {
        let key = Self::key(d, e);
        if !self.full() {
            self.keys.push(key);
            self.aux.push(aux);
            if self.full() {
                for i in (0..self.k / 2).rev() {
                    let (key, aux) = (self.keys[i], self.aux[i]);
                    self.sift(i, key, aux);
                }
            }
            return;
        }
        if key < self.keys[0] {
            self.sift(0, key, aux);
        }
    }
    /// Writes the kept items to `out`, nearest first (ties by index), and empties the set for the
    /// next query (no allocation once the buffers exist).
    fn drain_sorted(&mut self, out: &mut Vec<(f64, u32, f64)>) {
        self.scratch.clear();
        self.scratch.extend(self.keys.drain(..).zip(self.aux.drain(..)));
        self.scratch.sort_unstable_by_key(|x| x.0);
        out.clear();
        out.extend(self.scratch.iter().map(|&(key, aux)| (f64::from_bits((key >> 32) as u64), key as u32, aux)));
    }
}

/// An SE(3) element as a unit quaternion and a position: what distances read.
#[derive(Clone, Copy)]
pub struct Pose {
    q: [f64; 4],
    x: [f64; 3],
}

impl Pose {
    /// From a 4x4 element (Shepperd's method: the largest of the four candidates for stability).
    pub fn of(g: &[f64]) -> Pose {
        let r = |i: usize, j: usize| g[i * 4 + j];
        let tr = r(0, 0) + r(1, 1) + r(2, 2);
        let q = if tr >= r(0, 0).max(r(1, 1)).max(r(2, 2)) {
            let w = (1.0 + tr).max(0.0).sqrt() / 2.0;
            [w, (r(2, 1) - r(1, 2)) / (4.0 * w), (r(0, 2) - r(2, 0)) / (4.0 * w), (r(1, 0) - r(0, 1)) / (4.0 * w)]
        } else if r(0, 0) >= r(1, 1) && r(0, 0) >= r(2, 2) {
            let x = (1.0 + r(0, 0) - r(1, 1) - r(2, 2)).max(0.0).sqrt() / 2.0;
            [(r(2, 1) - r(1, 2)) / (4.0 * x), x, (r(0, 1) + r(1, 0)) / (4.0 * x), (r(0, 2) + r(2, 0)) / (4.0 * x)]
        } else if r(1, 1) >= r(2, 2) {
            let y = (1.0 - r(0, 0) + r(1, 1) - r(2, 2)).max(0.0).sqrt() / 2.0;
            [(r(0, 2) - r(2, 0)) / (4.0 * y), (r(0, 1) + r(1, 0)) / (4.0 * y), y, (r(1, 2) + r(2, 1)) / (4.0 * y)]
        } else {
            let z = (1.0 - r(0, 0) - r(1, 1) + r(2, 2)).max(0.0).sqrt() / 2.0;
            [(r(1, 0) - r(0, 1)) / (4.0 * z), (r(0, 2) + r(2, 0)) / (4.0 * z), (r(1, 2) + r(2, 1)) / (4.0 * z), z]
        };
        Pose { q, x: [r(0, 3), r(1, 3), r(2, 3)] }
    }
}

// The tables of [`atan2_pos`]: cos φ_k, φ_k = kπ/16 (sin φ_k = cos φ_(8-k)), the angles, and
// the cosines of the sector midpoints (2j + 1)π/32 (sin ψ_j = cos ψ_(7-j)); the series.
const ATAN_COS: [f64; 9] = [1.0, 0.980_785_280_403_230_4, 0.923_879_532_511_286_7, 0.831_469_612_302_545_2, 0.707_106_781_186_547_6, 0.555_570_233_019_602_2, 0.382_683_432_365_089_8, 0.195_090_322_016_128_28, 0.0];
const ATAN_PHI: [f64; 9] = [0.0, 0.196_349_540_849_362_07, 0.392_699_081_698_724_14, 0.589_048_622_548_086_2, 0.785_398_163_397_448_3, 0.981_747_704_246_810_3, 1.178_097_245_096_172_4, 1.374_446_785_945_534_5, core::f64::consts::FRAC_PI_2];
const ATAN_MID: [f64; 8] = [0.995_184_726_672_196_9, 0.956_940_335_732_208_8, 0.881_921_264_348_355, 0.773_010_453_362_737, 0.634_393_284_163_645_5, 0.471_396_736_825_997_64, 0.290_284_677_254_462_4, 0.098_017_140_329_560_6];
const ATAN_C: [f64; 8] = [1.0, 1.0 / 3.0, 1.0 / 5.0, 1.0 / 7.0, 1.0 / 9.0, 1.0 / 11.0, 1.0 / 13.0, 1.0 / 15.0];

/// `atan2(y, x)` for `y, x >= 0` (an angle in `[0, π/2]`) in `L` independent lanes, branch-free
/// in a fixed order of IEEE operations (every lane count gives the same bits): the angle is
/// turned back by the nearest `φ = kπ/16` (`k` counts the sector midpoints `(2j + 1)π/32` below
/// it, compared as `y cos ψ > x sin ψ`), leaving `w = (y cos φ - x sin φ) / (x cos φ + y sin φ)`,
/// `|w| <= tan(π/32)`, where the odd series to `w^15` is within 5e-18 relative; in all within
/// 1e-15 relative of the library's `atan2` (a few ulp; tested). One division.
#[inline(always)]
fn atan2_pos<const L: usize>(y: [f64; L], x: [f64; L]) -> [f64; L] {
    let k: [usize; L] = core::array::from_fn(|l| (0..8).map(|j| (y[l] * ATAN_MID[j] > x[l] * ATAN_MID[7 - j]) as usize).sum());
    let w: [f64; L] = core::array::from_fn(|l| (y[l] * ATAN_COS[k[l]] - x[l] * ATAN_COS[8 - k[l]]) / (x[l] * ATAN_COS[k[l]] + y[l] * ATAN_COS[8 - k[l]]));
    let u: [f64; L] = core::array::from_fn(|l| w[l] * w[l]);
    let mut p = [ATAN_C[7]; L];
    for n in (0..7).rev() {
        for l in 0..L {
            p[l] = ATAN_C[n] - u[l] * p[l];
        }
    }
    core::array::from_fn(|l| if x[l] + y[l] == 0.0 { 0.0 } else { ATAN_PHI[k[l]] + w[l] * p[l] })
}

/// The SE(3) distance `α |ω| + (1 - α) |u|` of `log(g^-1 h) = (ω, u)`, without the log: `θ = |ω|`
/// from the quaternions; with `t = R_g^T (x_h - x_g)` (so `|t| = |x_h - x_g|`) and `a` the
/// rotation axis, `V^-1` keeps `a.t` and scales the rest of `t` by `1 / sinc(θ/2)`, so
/// `|u|^2 = (a.t)^2 + (|t|^2 - (a.t)^2) / sinc^2(θ/2)`; `a.t` is the world-frame axis (the
/// vector part of `q_h conj(q_g)`, `sin(θ/2)` long) dotted with `x_h - x_g`.
#[inline(always)]
pub fn se3_distance(a: &Pose, b: &Pose, alpha: f64) -> f64 {
    se3_measure(a, b, alpha).0
}

/// `|cos(θ/2)|` of the rotation between two poses: what the search's angle test reads.
#[inline(always)]
fn half_cos(a: &Pose, b: &Pose) -> f64 {
    (a.q[0] * b.q[0] + a.q[1] * b.q[1] + a.q[2] * b.q[2] + a.q[3] * b.q[3]).abs()
}

/// [`se3_distance`] and the half angle `θ/2` of the relative rotation.
#[inline(always)]
fn se3_measure(a: &Pose, b: &Pose, alpha: f64) -> (f64, f64) {
    let (d, h) = se3_measure_lanes(a, [b], alpha);
    (d[0], h[0])
}

/// [`se3_measure`] of one pose against `L` others, step by step across the lanes so that their
/// square roots and divisions overlap (two of each per pair, no branches); the same bits for
/// every `L`.
#[inline(always)]
fn se3_measure_lanes<const L: usize>(a: &Pose, b: [&Pose; L], alpha: f64) -> ([f64; L], [f64; L]) {
    let mut tt = [0.0; L];
    let mut p = [0.0; L];
    let mut s2 = [0.0; L];
    let mut c = [0.0; L];
    let (wa, va) = (a.q[0], [a.q[1], a.q[2], a.q[3]]);
    for l in 0..L {
        let dx = [b[l].x[0] - a.x[0], b[l].x[1] - a.x[1], b[l].x[2] - a.x[2]];
        tt[l] = dx[0] * dx[0] + dx[1] * dx[1] + dx[2] * dx[2];
        // q_b conj(q_a) = (w_a w_b + v_a.v_b, w_a v_b - w_b v_a - v_b x v_a): cos and sin of θ/2
        // (up to a common sign) and the axis; the sine from the vector part keeps small angles
        // exact.
        let (wb, vb) = (b[l].q[0], [b[l].q[1], b[l].q[2], b[l].q[3]]);
        c[l] = half_cos(a, b[l]);
        let cross = [vb[1] * va[2] - vb[2] * va[1], vb[2] * va[0] - vb[0] * va[2], vb[0] * va[1] - vb[1] * va[0]];
        let v: [f64; 3] = core::array::from_fn(|i| wa * vb[i] - wb * va[i] - cross[i]);
        s2[l] = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
        p[l] = v[0] * dx[0] + v[1] * dx[1] + v[2] * dx[2];
    }
    let half = atan2_pos(s2.map(f64::sqrt), c);
    let mut d = [0.0; L];
    for l in 0..L {
        // (a.t)^2 = (v.dx)^2 / s^2 and 1 / sinc^2(θ/2) = (θ/2)^2 / s^2: one division.
        let inv = 1.0 / s2[l];
        let at2 = (p[l] * p[l] * inv).min(tt[l]);
        let u2 = at2 + (tt[l] - at2) * (half[l] * half[l] * inv);
        let u2 = if s2[l] < 1e-24 { tt[l] } else { u2 };
        d[l] = alpha * 2.0 * half[l] + (1.0 - alpha) * u2.sqrt();
    }
    (d, half)
}

/// [`se3_measure`] of one pose against four: two `f64x2` vectors on wasm SIMD128 (the same IEEE
/// operations in the same order as the scalar lanes, so the same bits), the scalar lanes
/// elsewhere.
#[inline(always)]
fn se3_measure4(a: &Pose, b: [&Pose; 4], alpha: f64) -> ([f64; 4], [f64; 4]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        simd_se3::measure4(a, b, alpha)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        se3_measure_lanes(a, b, alpha)
    }
}

/// [`se3_log_lanes`] of one element against four: `f64x2` on wasm SIMD128 (the same bits),
/// the scalar lanes elsewhere.
#[inline(always)]
fn se3_log4(pa: &Pose, pb: [&Pose; 4], ga: &[f64], half: [f64; 4]) -> [[f64; 6]; 4] {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        simd_se3::log4(pa, pb, ga, half)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        se3_log_lanes(pa, pb, ga, half)
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd_se3 {
    use super::{Pose, ATAN_C, ATAN_COS, ATAN_MID, ATAN_PHI};
    use core::arch::wasm32::*;

    #[inline(always)]
    fn pair(x: f64, y: f64) -> v128 {
        f64x2_replace_lane::<1>(f64x2_splat(x), y)
    }

    /// Lanes `2h` and `2h + 1` of [`super::se3_measure_lanes`], step for step.
    #[inline(always)]
    fn half_pair(a: &Pose, b0: &Pose, b1: &Pose, alpha: f64) -> (v128, v128) {
        let (add, sub, mul) = (f64x2_add, f64x2_sub, f64x2_mul);
        let s = f64x2_splat;
        let dx = [0, 1, 2].map(|i| sub(pair(b0.x[i], b1.x[i]), s(a.x[i])));
        let tt = add(add(mul(dx[0], dx[0]), mul(dx[1], dx[1])), mul(dx[2], dx[2]));
        let wb = pair(b0.q[0], b1.q[0]);
        let vb = [1, 2, 3].map(|i| pair(b0.q[i], b1.q[i]));
        let (wa, va) = (s(a.q[0]), [s(a.q[1]), s(a.q[2]), s(a.q[3])]);
        let c = f64x2_abs(add(add(add(mul(wa, wb), mul(va[0], vb[0])), mul(va[1], vb[1])), mul(va[2], vb[2])));
        let cross = [sub(mul(vb[1], va[2]), mul(vb[2], va[1])), sub(mul(vb[2], va[0]), mul(vb[0], va[2])), sub(mul(vb[0], va[1]), mul(vb[1], va[0]))];
        let v = [0, 1, 2].map(|i| sub(sub(mul(wa, vb[i]), mul(wb, va[i])), cross[i]));
        let s2 = add(add(mul(v[0], v[0]), mul(v[1], v[1])), mul(v[2], v[2]));
        let p = add(add(mul(v[0], dx[0]), mul(v[1], dx[1])), mul(v[2], dx[2]));
        // atan2(sqrt(s2), c) as in super::atan2_pos.
        let (y, x) = (f64x2_sqrt(s2), c);
        let mut k = i64x2_splat(0);
        for j in 0..8 {
            k = i64x2_sub(k, f64x2_gt(mul(y, s(ATAN_MID[j])), mul(x, s(ATAN_MID[7 - j]))));
        }
        let (k0, k1) = (i64x2_extract_lane::<0>(k) as usize, i64x2_extract_lane::<1>(k) as usize);
        let (ck, sk, phi) = (pair(ATAN_COS[k0], ATAN_COS[k1]), pair(ATAN_COS[8 - k0], ATAN_COS[8 - k1]), pair(ATAN_PHI[k0], ATAN_PHI[k1]));
        let w = f64x2_div(sub(mul(y, ck), mul(x, sk)), add(mul(x, ck), mul(y, sk)));
        let u = mul(w, w);
        let mut poly = s(ATAN_C[7]);
        for n in (0..7).rev() {
            poly = sub(s(ATAN_C[n]), mul(u, poly));
        }
        let half = v128_bitselect(s(0.0), add(phi, mul(w, poly)), f64x2_eq(add(x, y), s(0.0)));
        let inv = f64x2_div(s(1.0), s2);
        let q = mul(mul(p, p), inv);
        let at2 = v128_bitselect(q, tt, f64x2_lt(q, tt));
        let u2 = add(at2, mul(sub(tt, at2), mul(mul(half, half), inv)));
        let u2 = v128_bitselect(tt, u2, f64x2_lt(s2, s(1e-24)));
        let d = add(mul(mul(s(alpha), s(2.0)), half), mul(s(1.0 - alpha), f64x2_sqrt(u2)));
        (d, half)
    }

    /// Lanes `2h` and `2h + 1` of [`super::se3_log_lanes`], step for step.
    #[inline(always)]
    fn log_pair(pa: &Pose, b0: &Pose, b1: &Pose, ga: &[f64], half: v128) -> [v128; 6] {
        let (add, sub, mul, div) = (f64x2_add, f64x2_sub, f64x2_mul, f64x2_div);
        let s = f64x2_splat;
        let sel = |a: v128, b: v128, m: v128| v128_bitselect(a, b, m);
        let (wa, va) = (s(pa.q[0]), [s(pa.q[1]), s(pa.q[2]), s(pa.q[3])]);
        let wb = pair(b0.q[0], b1.q[0]);
        let vb = [1, 2, 3].map(|i| pair(b0.q[i], b1.q[i]));
        let cr = |a: [v128; 3], b: [v128; 3]| [sub(mul(a[1], b[2]), mul(a[2], b[1])), sub(mul(a[2], b[0]), mul(a[0], b[2])), sub(mul(a[0], b[1]), mul(a[1], b[0]))];
        let w = add(add(add(mul(wa, wb), mul(va[0], vb[0])), mul(va[1], vb[1])), mul(va[2], vb[2]));
        let cross = cr(va, vb);
        let v = [0, 1, 2].map(|i| sub(sub(mul(wa, vb[i]), mul(wb, va[i])), cross[i]));
        let sn = f64x2_sqrt(add(add(mul(v[0], v[0]), mul(v[1], v[1])), mul(v[2], v[2])));
        let av = v.map(|x| f64x2_abs(x));
        let big = sel(sel(v[2], v[1], f64x2_gt(av[2], av[1])), sel(v[2], v[0], f64x2_gt(av[2], av[0])), f64x2_gt(av[1], av[0]));
        let flip = v128_or(f64x2_lt(w, s(0.0)), v128_and(f64x2_lt(f64x2_abs(w), s(1e-12)), f64x2_lt(big, s(0.0))));
        let sign = sel(s(-1.0), s(1.0), flip);
        let wl = mul(w, sign);
        let theta = mul(s(2.0), half);
        let scale = sel(mul(s(2.0), sign), div(mul(sign, theta), sn), f64x2_lt(sn, s(1e-12)));
        let omega = v.map(|x| mul(x, scale));
        let dx = [0, 1, 2].map(|i| sub(pair(b0.x[i], b1.x[i]), s(pa.x[i])));
        let t = [0, 1, 2].map(|i| add(add(mul(s(ga[i]), dx[0]), mul(s(ga[4 + i]), dx[1])), mul(s(ga[8 + i]), dx[2])));
        let tt2 = mul(theta, theta);
        let k = sel(add(s(1.0 / 12.0), div(tt2, s(720.0))), div(sub(s(1.0), div(mul(half, wl), sn)), tt2), f64x2_lt(theta, s(1e-4)));
        let wt = cr(omega, t);
        let wwt = cr(omega, wt);
        [omega[0], omega[1], omega[2], add(sub(t[0], div(wt[0], s(2.0))), mul(k, wwt[0])), add(sub(t[1], div(wt[1], s(2.0))), mul(k, wwt[1])), add(sub(t[2], div(wt[2], s(2.0))), mul(k, wwt[2]))]
    }

    #[inline(always)]
    pub(super) fn log4(pa: &Pose, b: [&Pose; 4], ga: &[f64], half: [f64; 4]) -> [[f64; 6]; 4] {
        let lo = log_pair(pa, b[0], b[1], ga, pair(half[0], half[1]));
        let hi = log_pair(pa, b[2], b[3], ga, pair(half[2], half[3]));
        [
            lo.map(|x| f64x2_extract_lane::<0>(x)),
            lo.map(|x| f64x2_extract_lane::<1>(x)),
            hi.map(|x| f64x2_extract_lane::<0>(x)),
            hi.map(|x| f64x2_extract_lane::<1>(x)),
        ]
    }

    #[inline(always)]
    pub(super) fn measure4(a: &Pose, b: [&Pose; 4], alpha: f64) -> ([f64; 4], [f64; 4]) {
        let (d0, h0) = half_pair(a, b[0], b[1], alpha);
        let (d1, h1) = half_pair(a, b[2], b[3], alpha);
        let lanes = |x: v128, y: v128| [f64x2_extract_lane::<0>(x), f64x2_extract_lane::<1>(x), f64x2_extract_lane::<0>(y), f64x2_extract_lane::<1>(y)];
        (lanes(d0, d1), lanes(h0, h1))
    }
}

/// A lower bound of `cos x` for `x` in `[0, π/2]`: the series to `x^6` (a negative term, so it
/// stays below), less a margin for its rounding.
#[inline(always)]
fn cos_below(x: f64) -> f64 {
    let u = x * x;
    1.0 - u * (0.5 - u * (1.0 / 24.0 - u * (1.0 / 720.0))) - 1e-12
}

/// `log(g^-1 h) = (ω, u)` of two SE(3) elements from their poses and matrices, given the half
/// angle `θ/2` of the relative rotation (from [`se3_measure`]): no trigonometry. With
/// `r = conj(q_g) q_h = (w, v)` (`w >= 0`), `ω = θ v / |v|`; `t = R_g^T (x_h - x_g)` and
/// `u = V^-1 t = t - ω x t / 2 + k ω x (ω x t)`, `k = (1 - (θ/2) cot(θ/2)) / θ^2`.
fn se3_log_from(pa: &Pose, pb: &Pose, ga: &[f64], half: f64, out: &mut [f64]) {
    let v = se3_log_lanes(pa, [pb], ga, [half]);
    out[..6].copy_from_slice(&v[0]);
}

/// [`se3_log_from`] of one element against `L` others, branch-free (one square root and two
/// divisions per pair) so that the lanes overlap; the same bits for every `L`.
#[inline(always)]
fn se3_log_lanes<const L: usize>(pa: &Pose, pb: [&Pose; L], ga: &[f64], half: [f64; L]) -> [[f64; 6]; L] {
    let (wa, va) = (pa.q[0], [pa.q[1], pa.q[2], pa.q[3]]);
    let cr = |a: [f64; 3], b: [f64; 3]| [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
    let mut out = [[0.0; 6]; L];
    let mut s = [0.0; L];
    let mut w = [0.0; L];
    let mut v = [[0.0; 3]; L];
    for l in 0..L {
        let (wb, vb) = (pb[l].q[0], [pb[l].q[1], pb[l].q[2], pb[l].q[3]]);
        w[l] = wa * wb + va[0] * vb[0] + va[1] * vb[1] + va[2] * vb[2];
        let cross = cr(va, vb);
        v[l] = core::array::from_fn(|i| wa * vb[i] - wb * va[i] - cross[i]);
        s[l] = (v[l][0] * v[l][0] + v[l][1] * v[l][1] + v[l][2] * v[l][2]).sqrt();
    }
    for l in 0..L {
        // q and -q are one rotation: w >= 0; at w = 0 (θ = π) the largest component positive.
        let vl = v[l];
        let big = if vl[1].abs() > vl[0].abs() { if vl[2].abs() > vl[1].abs() { 2 } else { 1 } } else if vl[2].abs() > vl[0].abs() { 2 } else { 0 };
        let flip = w[l] < 0.0 || (w[l].abs() < 1e-12 && vl[big] < 0.0);
        let sign = if flip { -1.0 } else { 1.0 };
        let wl = w[l] * sign;
        let theta = 2.0 * half[l];
        let scale = if s[l] < 1e-12 { 2.0 * sign } else { sign * theta / s[l] };
        let omega = vl.map(|x| x * scale);
        let dx = [pb[l].x[0] - pa.x[0], pb[l].x[1] - pa.x[1], pb[l].x[2] - pa.x[2]];
        let t: [f64; 3] = core::array::from_fn(|i| ga[i] * dx[0] + ga[4 + i] * dx[1] + ga[8 + i] * dx[2]);
        let k = if theta < 1e-4 { 1.0 / 12.0 + theta * theta / 720.0 } else { (1.0 - half[l] * wl / s[l]) / (theta * theta) };
        let wt = cr(omega, t);
        let wwt = cr(omega, wt);
        out[l][..3].copy_from_slice(&omega);
        for i in 0..3 {
            out[l][3 + i] = t[i] - wt[i] / 2.0 + k * wwt[i];
        }
    }
    out
}

/// The geometry the neighbour searches read.
pub struct Cloud<'a> {
    pub kind: Kind,
    pub elements: &'a [f64],
    pub orbit: Option<&'a [f64]>,
    pub cloud: &'a [u32],
    pub alpha: f64,
}

impl Cloud<'_> {
    fn element(&self, e: u32) -> &[f64] {
        let nn = self.kind.n() * self.kind.n();
        &self.elements[e as usize * nn..(e as usize + 1) * nn]
    }
    fn q(&self, e: u32) -> f64 {
        self.orbit.map_or(0.0, |o| o[e as usize])
    }
    /// The distance between `g` and `h` (the module comment), from the log.
    pub fn distance_by_log(&self, g: u32, h: u32) -> f64 {
        let mut v = [0.0; 6];
        rel_log(self.kind, self.element(g), self.element(h), &mut v);
        distance_from_log(self.kind, &v, self.q(g), self.q(h), self.alpha)
    }

    /// The same distance without the log (see [`se3_distance`]; SE(2) likewise with `|u| =
    /// |x' - x| / sinc(θ/2)`).
    pub fn distance(&self, g: u32, h: u32) -> f64 {
        match self.kind {
            Kind::SE3 => {
                let (a, b) = (self.element(g), self.element(h));
                se3_distance(&Pose::of(a), &Pose::of(b), self.alpha)
            }
            Kind::SE2 => {
                let (a, b) = (self.element(g), self.element(h));
                // cos and sin of θ_h - θ_g, and |x' - x|.
                let (c, s) = (a[0] * b[0] + a[3] * b[3], a[0] * b[3] - a[3] * b[0]);
                let theta = s.atan2(c);
                let (dx, dy) = (b[2] - a[2], b[5] - a[5]);
                let half = theta.abs() / 2.0;
                let sinc = if half < 1e-6 { 1.0 } else { half.sin() / half };
                self.alpha * theta.abs() + (1.0 - self.alpha) * (dx * dx + dy * dy).sqrt() / sinc
            }
            Kind::T2 | Kind::T3 => {
                let (a, b) = (self.element(g), self.element(h));
                let (n, d) = (self.kind.n(), self.kind.d());
                (0..d).map(|i| (b[i * n + d] - a[i * n + d]).powi(2)).sum::<f64>().sqrt()
            }
            _ => self.distance_by_log(g, h),
        }
    }
    /// Factor `c` with `distance >= c |x' - x|` for translation groups (T: 1; SE: 1 - α).
    fn spatial_bound(&self) -> Option<f64> {
        match self.kind {
            Kind::T2 | Kind::T3 => Some(1.0),
            Kind::SE2 | Kind::SE3 if self.alpha < 1.0 => Some(1.0 - self.alpha),
            _ => None,
        }
    }
}

/// The `k` nearest elements of each element's cloud by the distance (itself included, at 0),
/// ordered by (distance, index). Masked elements get no neighbours. `offsets` has `m + 1`
/// entries, `indices` room for `m * k`.
pub fn knn(c: &Cloud, k: usize, offsets: &mut [u32], indices: &mut [u32], coords: Option<&mut [f32]>) -> Result<(), String> {
    let m = c.cloud.len();
    let groups = clouds(c.cloud);
    if let Some((cl, members)) = groups.iter().find(|(_, mem)| mem.len() < k) {
        return Err(format!("neighbours: k = {k} is more than the {} elements of cloud {cl}", members.len()));
    }
    offsets[0] = 0;
    for e in 0..m {
        offsets[e + 1] = offsets[e] + if c.cloud[e] == MASKED { 0 } else { k as u32 };
    }
    let mut lists = Lists { offsets, indices, coords, width: coords_width(c.kind) };
    let poses: Vec<Pose> = if c.kind == Kind::SE3 { (0..m as u32).map(|e| Pose::of(c.element(e))).collect() } else { Vec::new() };
    for (_, members) in &groups {
        match c.spatial_bound() {
            Some(factor) => knn_spatial(c, members, k, factor, &poses, &mut lists),
            None => {
                let (mut best, mut items) = (Best::new(k), Vec::new());
                for &q in members {
                    for &e in members {
                        best.offer(c.distance(q, e), e, 0.0);
                    }
                    best.drain_sorted(&mut items);
                    lists.put(c, q, &items, None);
                }
            }
        }
    }
    Ok(())
}

/// Where [`knn`] writes: fixed-length lists at their offsets, and optionally the pairs'
/// coordinates (computed here from the search's poses for SE(3)).
struct Lists<'a> {
    offsets: &'a [u32],
    indices: &'a mut [u32],
    coords: Option<&'a mut [f32]>,
    width: usize,
}

impl Lists<'_> {
    fn put(&mut self, c: &Cloud, q: u32, items: &[(f64, u32, f64)], poses: Option<&[Pose]>) {
        let at = self.offsets[q as usize] as usize;
        for (j, &(_, e, _)) in items.iter().enumerate() {
            self.indices[at + j] = e;
        }
        let Some(out) = self.coords.as_deref_mut() else { return };
        let (a, width) = (c.kind.a(), self.width);
        let mut write = |j: usize, e: u32, v: &[f64; 6]| {
            let o = &mut out[(at + j) * width..(at + j + 1) * width];
            for i in 0..a {
                o[i] = v[i] as f32;
            }
            if c.kind.has_orbit() {
                o[a] = c.q(q) as f32;
                o[a + 1] = c.q(e) as f32;
            }
        };
        match poses {
            // SE(3): four pairs at a time (the last group padded with its own last pair).
            Some(p) => {
                for (g, group) in items.chunks(4).enumerate() {
                    let pick = |l: usize| group[l.min(group.len() - 1)];
                    let v = se3_log4(&p[q as usize], [0, 1, 2, 3].map(|l| &p[pick(l).1 as usize]), c.element(q), [0, 1, 2, 3].map(|l| pick(l).2));
                    for (l, &(_, e, _)) in group.iter().enumerate() {
                        write(4 * g + l, e, &v[l]);
                    }
                }
            }
            None => {
                for (j, &(_, e, _)) in items.iter().enumerate() {
                    let mut v = [0.0; 6];
                    rel_log(c.kind, c.element(q), c.element(e), &mut v);
                    write(j, e, &v);
                }
            }
        }
    }
}

/// Every element of the query's cloud within `radius` (itself included), ordered by (distance,
/// index). Returns the number of pairs; writes them only when `indices` has room for all.
///
/// With `indices` empty it only counts (no lists are kept). Either way it stops once the count
/// passes `limit` and returns `limit + 1` (or `usize::MAX`), writing nothing: a radius
/// that takes in a whole large cloud costs no more than the limit allows.
pub fn within(c: &Cloud, radius: f64, offsets: &mut [u32], indices: &mut [u32], limit: usize) -> usize {
    let m = c.cloud.len();
    let store = !indices.is_empty();
    let mut lists: Vec<Vec<u32>> = vec![Vec::new(); if store { m } else { 0 }];
    let mut total = 0usize;
    for (_, members) in clouds(c.cloud) {
        let pos = |e: u32| translation(c.kind, c.element(e));
        let grid = c.spatial_bound().map(|_| Grid::new(&members, &pos, c.kind.d(), 2.0));
        for &q in &members {
            let mut found: Vec<(f64, u32)> = Vec::new();
            let mut take = |e: u32| {
                let d = c.distance(q, e);
                if d <= radius {
                    found.push((d, e));
                }
            };
            match (&grid, c.spatial_bound()) {
                (Some(g), Some(factor)) => {
                    let cell = g.coords(pos(q));
                    let mut r = 0isize;
                    while factor * (r - 1).max(0) as f64 * g.h <= radius && g.ring(cell, r, &mut take) {
                        r += 1;
                    }
                }
                _ => members.iter().for_each(|&e| take(e)),
            }
            // Saturating: usize is 32 bits on wasm32, and a wrapped count would slip under the limit.
            total = total.saturating_add(found.len());
            if total > limit {
                return total.min(limit.saturating_add(1));
            }
            if store {
                found.sort_by(|a, b| a.partial_cmp(b).unwrap_or(core::cmp::Ordering::Equal));
                lists[q as usize] = found.into_iter().map(|(_, e)| e).collect();
            }
        }
    }
    if total == 0 {
        // No pairs: the caller makes no second call, so the (all zero) offsets are written now.
        offsets.fill(0);
    } else if store && indices.len() >= total {
        write_lists(&lists, offsets, indices);
    }
    total
}

/// kNN for translation groups. The elements of one point share its position, so the search
/// runs over points: a grid over the points gives those within a radius, sorted by distance, and
/// each of a point's elements scans them in that order until `factor * |x' - x|` exceeds its
/// k-th best distance, which makes the result exact (the radius doubles when the scan runs out
/// first). Inside a candidate point (SE(3)), the rotation alone rules out most elements: with
/// `|u| >= |x' - x|` an element is out when `cos(θ/2)` (four products) is below a lower bound of
/// the cosine of the half-angle budget left; the rest are measured four at a time.
fn knn_spatial(c: &Cloud, members: &[u32], k: usize, factor: f64, poses: &[Pose], lists: &mut Lists) {
    let pos = |e: u32| translation(c.kind, c.element(e));
    // Points: runs of consecutive members at one position.
    let mut starts = vec![0usize];
    for i in 1..members.len() {
        if pos(members[i]) != pos(members[i - 1]) {
            starts.push(i);
        }
    }
    starts.push(members.len());
    let npts = starts.len() - 1;
    let reps: Vec<u32> = (0..npts as u32).collect();
    let place: Vec<[f64; 3]> = (0..npts).map(|p| pos(members[starts[p]])).collect();
    let ppos = |p: u32| place[p as usize];
    let grid = Grid::new(&reps, &ppos, c.kind.d(), 2.0);
    let d = c.kind.d();
    let se3 = c.kind == Kind::SE3;
    let alpha = c.alpha;
    let inv2a = 0.5 / alpha;

    // Candidate points keyed by (squared distance bits, point): one integer comparison each.
    let mut cands: Vec<u128> = Vec::new();
    let mut near: Vec<(f64, u32)> = Vec::new();
    let mut bests: Vec<Best> = Vec::new();
    let mut items = Vec::new();
    for p in 0..npts {
        let queries = &members[starts[p]..starts[p + 1]];
        let x = ppos(p as u32);
        let cell = grid.coords(x);
        while bests.len() < queries.len() {
            bests.push(Best::new(k));
        }
        let mut radius = 2.0 * grid.h;
        let mut inner = -1.0f64; // points closer than this were scanned already
        loop {
            cands.clear();
            grid.cube(cell, (radius / grid.h).ceil() as isize, &mut |q| {
                let y = ppos(q);
                let sq = (0..d).map(|i| (y[i] - x[i]).powi(2)).sum::<f64>();
                if sq <= radius * radius && (inner < 0.0 || sq > inner * inner) {
                    cands.push(((sq + 0.0).to_bits() as u128) << 32 | q as u128);
                }
            });
            #[cfg(test)]
            {
                GATHERED.fetch_add(cands.len(), std::sync::atomic::Ordering::Relaxed);
                ROUNDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            cands.sort_unstable();
            near.clear();
            near.extend(cands.iter().map(|&key| (f64::from_bits((key >> 32) as u64).sqrt(), key as u32)));
            let mut finished = true;
            for (qi, &q) in queries.iter().enumerate() {
                let best = &mut bests[qi];
                for &(dist, cp) in &near {
                    if best.full() && factor * dist > best.worst() {
                        break;
                    }
                    let run = &members[starts[cp as usize]..starts[cp as usize + 1]];
                    if !se3 {
                        for &e in run {
                            best.offer(c.distance(q, e), e, 0.0);
                        }
                        continue;
                    }
                    // The rotation alone decides for most candidates: with |u| >= |x' - x|,
                    // an element is out when α θ > worst - factor |x' - x|, that is when
                    // cos(θ/2) is below the cosine of that budget's half angle.
                    let pq = &poses[q as usize];
                    for chunk in run.chunks(4) {
                        let floor = if best.full() && alpha > 0.0 {
                            let worst = best.worst();
                            let half = (worst - factor * dist + 1e-9 * worst) * inv2a;
                            if half < core::f64::consts::FRAC_PI_2 { cos_below(half) } else { -1.0 }
                        } else {
                            -1.0
                        };
                        #[cfg(test)]
                        CHECKS.fetch_add(chunk.len(), std::sync::atomic::Ordering::Relaxed);
                        if chunk.iter().all(|&e| half_cos(pq, &poses[e as usize]) < floor) {
                            continue;
                        }
                        #[cfg(test)]
                        EVALS.fetch_add(chunk.len(), std::sync::atomic::Ordering::Relaxed);
                        let last = chunk[chunk.len() - 1];
                        let at = |l: usize| &poses[*chunk.get(l).unwrap_or(&last) as usize];
                        let (d, half) = se3_measure4(pq, [at(0), at(1), at(2), at(3)], alpha);
                        for (l, &e) in chunk.iter().enumerate() {
                            if !best.full() || d[l] <= best.worst() {
                                best.offer(d[l], e, half[l]);
                            }
                        }
                    }
                }
                if !best.full() || factor * radius <= best.worst() {
                    finished = false;
                }
            }
            if finished || cands.is_empty() && inner >= 0.0 && radius > grid.h * (grid.dims.iter().sum::<usize>() as f64) {
                break;
            }
            inner = radius;
            radius *= 2.0;
        }
        for (qi, &q) in queries.iter().enumerate() {
            bests[qi].drain_sorted(&mut items);
            lists.put(c, q, &items, if se3 { Some(poses) } else { None });
        }
    }
}

fn write_lists(lists: &[Vec<u32>], offsets: &mut [u32], indices: &mut [u32]) {
    offsets[0] = 0;
    let mut at = 0;
    for (e, l) in lists.iter().enumerate() {
        indices[at..at + l.len()].copy_from_slice(l);
        at += l.len();
        offsets[e + 1] = at as u32;
    }
}

/// For each pair of a compressed list, `[log(g^-1 g'), q, q']` (the orbits only for SO(d)) as
/// f32, `width = a + 2 (SO(d))` per pair: what `omega` reads as the relative element.
pub fn pair_coords(c: &Cloud, offsets: &[u32], indices: &[u32], out: &mut [f32]) {
    let (k, a) = (c.kind, c.kind.a());
    let width = coords_width(k);
    let mut v = [0.0; 6];
    // SE(3): from quaternions (one atan per pair, no other trigonometry).
    let m = c.elements.len() / (k.n() * k.n());
    let poses: Vec<Pose> = if k == Kind::SE3 { (0..m as u32).map(|e| Pose::of(c.element(e))).collect() } else { Vec::new() };
    for g in 0..offsets.len() - 1 {
        for j in offsets[g] as usize..offsets[g + 1] as usize {
            let h = indices[j];
            if k == Kind::SE3 {
                let (pa, pb) = (&poses[g], &poses[h as usize]);
                se3_log_from(pa, pb, c.element(g as u32), se3_measure(pa, pb, 0.0).1, &mut v);
            } else {
                rel_log(k, c.element(g as u32), c.element(h), &mut v);
            }
            let o = &mut out[j * width..(j + 1) * width];
            for i in 0..a {
                o[i] = v[i] as f32;
            }
            if k.has_orbit() {
                o[a] = c.q(g as u32) as f32;
                o[a + 1] = c.q(h) as f32;
            }
        }
    }
}

/// Values per pair that [`pair_coords`] writes.
pub fn coords_width(k: Kind) -> usize {
    k.a() + if k.has_orbit() { 2 } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [Kind; 6] = [Kind::T2, Kind::T3, Kind::SO2, Kind::SE2, Kind::SO3, Kind::SE3];

    fn random_element(k: Kind, u: &mut Uniforms) -> Vec<f64> {
        let a = k.a();
        let v: Vec<f64> = (0..a).map(|_| (u.next().unwrap() * 2.0 - 1.0) * 3.0).collect();
        let mut g = vec![0.0; k.n() * k.n()];
        exp(k, &v, &mut g);
        g
    }

    #[test]
    fn exp_log_round_trip_including_near_pi() {
        let mut u = Uniforms::Seeded(3);
        for k in KINDS {
            for _ in 0..500 {
                let g = random_element(k, &mut u);
                let mut v = vec![0.0; k.a()];
                log(k, &g, &mut v);
                let mut back = vec![0.0; k.n() * k.n()];
                exp(k, &v, &mut back);
                for (x, y) in g.iter().zip(&back) {
                    assert!((x - y).abs() < 1e-9, "{k:?}");
                }
            }
        }
        // Rotations by pi - 1e-9 about a slanted axis: the near-pi branch.
        for k in [Kind::SO3, Kind::SE3] {
            let axis = [0.6, -0.48, 0.64];
            let t = core::f64::consts::PI - 1e-9;
            let mut v = vec![0.0; k.a()];
            v[..3].copy_from_slice(&axis.map(|x| x * t));
            let mut g = vec![0.0; k.n() * k.n()];
            exp(k, &v, &mut g);
            let mut w = vec![0.0; k.a()];
            log(k, &g, &mut w);
            for (x, y) in v.iter().zip(&w) {
                assert!((x - y).abs() < 1e-6, "{k:?} near pi: {v:?} vs {w:?}");
            }
        }
    }

    #[test]
    fn relative_log_and_distance_are_left_invariant() {
        let mut u = Uniforms::Seeded(9);
        for k in KINDS {
            for _ in 0..200 {
                let (g, h, s) = (random_element(k, &mut u), random_element(k, &mut u), random_element(k, &mut u));
                let nn = k.n() * k.n();
                let (mut sg, mut sh) = (vec![0.0; nn], vec![0.0; nn]);
                compose_left(k, &s, &g, 1, &mut sg);
                compose_left(k, &s, &h, 1, &mut sh);
                let (mut a, mut b, mut ba) = (vec![0.0; k.a()], vec![0.0; k.a()], vec![0.0; k.a()]);
                rel_log(k, &g, &h, &mut a);
                rel_log(k, &sg, &sh, &mut b);
                rel_log(k, &h, &g, &mut ba);
                for i in 0..k.a() {
                    assert!((a[i] - b[i]).abs() < 1e-8, "{k:?} invariance");
                }
                let (d1, d2) = (distance_from_log(k, &a, 0.0, 0.0, 0.2), distance_from_log(k, &ba, 0.0, 0.0, 0.2));
                assert!((d1 - d2).abs() < 1e-9, "{k:?} symmetry");
            }
        }
    }

    #[test]
    fn lifting_puts_every_sample_on_its_point() {
        let pts = [0.5, -1.0, 2.0, 0.3, 0.1, 0.2, -0.7, 1.5, 0.9];
        for k in KINDS {
            let d = k.d();
            let count = 9 / d;
            let samples = if matches!(k, Kind::T2 | Kind::T3 | Kind::SO2) { 1 } else { 3 };
            let nn = k.n() * k.n();
            let mut out = vec![0.0; count * samples * nn];
            let mut orbit = vec![0.0; count * samples];
            lift(k, &pts, count, samples, &mut Uniforms::Seeded(1), &mut out, &mut orbit).unwrap();
            for p in 0..count {
                for s in 0..samples {
                    let g = &out[(p * samples + s) * nn..][..nn];
                    // g applied to the reference point (origin for T/SE, |x| e1 or |x| e3 for SO).
                    let x = &pts[p * d..(p + 1) * d];
                    let r = norm(x);
                    let moved: Vec<f64> = match k {
                        Kind::SO2 => vec![g[0] * r, g[2] * r],
                        Kind::SO3 => vec![g[2] * r, g[5] * r, g[8] * r],
                        _ => (0..d).map(|i| g[i * k.n() + d]).collect(),
                    };
                    for i in 0..d {
                        assert!((moved[i] - x[i]).abs() < 1e-12, "{k:?}");
                    }
                }
            }
        }
        let mut out = vec![0.0; 9];
        assert!(lift(Kind::SO3, &[0.0, 0.0, 0.0], 1, 1, &mut Uniforms::Seeded(1), &mut out, &mut [0.0]).unwrap_err().contains("origin"));
        assert!(lift(Kind::SE3, &[f64::NAN, 0.0, 0.0], 1, 1, &mut Uniforms::Seeded(1), &mut vec![0.0; 16], &mut []).unwrap_err().contains("non-finite"));
    }

    #[test]
    fn distances_without_the_log_equal_those_from_it() {
        let mut u = Uniforms::Seeded(4);
        for k in KINDS {
            let m = 64;
            let els: Vec<f64> = (0..m).flat_map(|_| random_element(k, &mut u)).collect();
            let orbit: Vec<f64> = (0..m).map(|i| 1.0 + i as f64 / 10.0).collect();
            let cloud = vec![0u32; m];
            let c = Cloud { kind: k, elements: &els, orbit: Some(&orbit), cloud: &cloud, alpha: 0.3 };
            for g in 0..m as u32 {
                for h in 0..m as u32 {
                    let (a, b) = (c.distance(g, h), c.distance_by_log(g, h));
                    assert!((a - b).abs() < 1e-8 * b.max(1.0), "{k:?}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn se3_logs_from_quaternions_equal_the_matrix_logs() {
        let mut u = Uniforms::Seeded(17);
        let k = Kind::SE3;
        let mut els: Vec<Vec<f64>> = (0..60).map(|_| random_element(k, &mut u)).collect();
        // A relative rotation of exactly pi and one of almost zero.
        let mut g = vec![0.0; 16];
        exp(k, &[0.0, core::f64::consts::PI, 0.0, 1.0, 2.0, 3.0], &mut g);
        els.push(g);
        let mut g2 = vec![0.0; 16];
        exp(k, &[1e-9, 0.0, 0.0, 0.5, 0.0, 0.0], &mut g2);
        els.push(g2);
        els.push(vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        for a in &els {
            for b in &els {
                let (pa, pb) = (Pose::of(a), Pose::of(b));
                let mut fast = [0.0; 6];
                se3_log_from(&pa, &pb, a, se3_measure(&pa, &pb, 0.0).1, &mut fast);
                let mut slow = [0.0; 6];
                rel_log(k, a, b, &mut slow);
                // At exactly pi the axis sign is a convention: compare the rotation both give.
                let theta = norm(&slow[..3]);
                if (core::f64::consts::PI - theta).abs() < 1e-6 {
                    let (mut ea, mut eb) = (vec![0.0; 16], vec![0.0; 16]);
                    exp(k, &fast, &mut ea);
                    exp(k, &slow, &mut eb);
                    for (x, y) in ea.iter().zip(&eb) {
                        assert!((x - y).abs() < 1e-9);
                    }
                    continue;
                }
                for i in 0..6 {
                    assert!((fast[i] - slow[i]).abs() < 1e-9 * slow[i].abs().max(1.0), "{fast:?} vs {slow:?}");
                }
            }
        }
    }

    /// Points on an integer lattice have many equal distances: the lists still equal brute force
    /// ordered by (distance, index), ties broken by the smaller index, and the best-k set keeps
    /// the right members when a tie sits at its boundary.
    #[test]
    fn knn_breaks_ties_by_index() {
        for k in [Kind::T2, Kind::T3] {
            let d = k.d();
            let side: usize = if d == 2 { 7 } else { 4 };
            let count = side.pow(d as u32);
            let pts: Vec<f64> = (0..count).flat_map(|i| (0..d).map(move |a| ((i / side.pow(a as u32)) % side) as f64)).collect();
            let nn = k.n() * k.n();
            let mut els = vec![0.0; count * nn];
            lift(k, &pts, count, 1, &mut Uniforms::Seeded(1), &mut els, &mut []).unwrap();
            let cloud = vec![0u32; count];
            let c = Cloud { kind: k, elements: &els, orbit: None, cloud: &cloud, alpha: 0.2 };
            for kk in [1, 5, 9, 13] {
                let mut off = vec![0u32; count + 1];
                let mut idx = vec![0u32; count * kk];
                knn(&c, kk, &mut off, &mut idx, None).unwrap();
                for q in 0..count {
                    let mut all: Vec<(f64, u32)> = (0..count as u32).map(|e| (c.distance(q as u32, e), e)).collect();
                    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
                    let want: Vec<u32> = all.iter().take(kk).map(|x| x.1).collect();
                    assert_eq!(&idx[off[q] as usize..off[q + 1] as usize], &want[..], "{k:?} k = {kk}, element {q}");
                }
            }
        }
    }

    /// The branch-free atan2 is within a few ulp of the library's on the whole quarter plane
    /// (including the axes and tiny angles), and its lanes agree with one another; the cosine
    /// bound stays below the cosine.
    #[test]
    fn atan2_and_cos_bound() {
        let mut u = Uniforms::Seeded(8);
        let mut worst = 0.0f64;
        for i in 0..200_000 {
            let (y, x) = match i {
                0 => (0.0, 1.0),
                1 => (1.0, 0.0),
                2 => (0.0, 0.0),
                3 => (1e-300, 1.0),
                _ => {
                    let t = u.next().unwrap() * core::f64::consts::FRAC_PI_2;
                    let r = if i % 3 == 0 { 1.0 } else { u.next().unwrap() * 10.0 };
                    (t.sin() * r, t.cos() * r)
                }
            };
            let want = y.atan2(x);
            let got = atan2_pos([y], [x])[0];
            worst = worst.max((got - want).abs() / want.max(f64::MIN_POSITIVE));
            let four = atan2_pos([y, x, y * 0.5, 1.0], [x, y, x, 1.0]);
            assert_eq!(four[0].to_bits(), got.to_bits());
        }
        assert!(worst < 1e-15, "atan2_pos relative error {worst:e}");
        for i in 0..=1000 {
            let x = i as f64 / 1000.0 * core::f64::consts::FRAC_PI_2;
            assert!(cos_below(x) < x.cos(), "{x}");
            assert!(x.cos() - cos_below(x) < 1e-3);
        }
    }

    /// Pair counts past what wasm32's `usize` holds, and a radius that takes in a whole large
    /// cloud: counted in u64, and the radius search stops soon after its limit.
    #[test]
    fn pair_counts_do_not_wrap_and_radius_counting_stops_at_the_limit() {
        let big = vec![0u32; 70_000];
        assert_eq!(global_len(&big), 4_900_000_000);
        let count = 3_000;
        let pts: Vec<f64> = (0..count * 3).map(|i| (i % 97) as f64 * 1e-3).collect();
        let mut els = vec![0.0; count * 16];
        let mut orbit = vec![0.0; count];
        lift(Kind::T3, &pts, count, 1, &mut Uniforms::Seeded(5), &mut els, &mut orbit).unwrap();
        let cloud = vec![0u32; count];
        let c = Cloud { kind: Kind::T3, elements: &els, orbit: None, cloud: &cloud, alpha: 0.2 };
        let mut off = vec![0u32; count + 1];
        let limit = 100_000;
        let n = within(&c, 1e6, &mut off, &mut [], limit);
        assert!(n > limit && n <= limit + count, "counted {n}");
        let mut idx = vec![0u32; limit];
        off.fill(7);
        assert!(within(&c, 1e6, &mut off, &mut idx, limit) > limit);
        assert!(off.iter().all(|&o| o == 7), "nothing is written past the limit");
        // Nothing within the radius: zero offsets, written by the counting call.
        assert_eq!(within(&c, -1.0, &mut off, &mut [], limit), 0);
        assert!(off.iter().all(|&o| o == 0));
    }

    /// Brute force over all pairs: the grid search must find exactly the same lists.
    #[test]
    fn knn_and_radius_match_brute_force() {
        for k in KINDS {
            let d = k.d();
            let (count, samples) = (150, if matches!(k, Kind::SE2 | Kind::SE3 | Kind::SO3) { 3 } else { 1 });
            let mut u = Uniforms::Seeded(21);
            let pts: Vec<f64> = (0..count * d).map(|_| u.next().unwrap() * 6.0 - 3.0).collect();
            let m = count * samples;
            let nn = k.n() * k.n();
            let mut els = vec![0.0; m * nn];
            let mut orbit = vec![0.0; m];
            lift(k, &pts, count, samples, &mut Uniforms::Seeded(5), &mut els, &mut orbit).unwrap();
            // Two clouds and a few masked elements.
            let cloud: Vec<u32> = (0..m).map(|e| if e % 17 == 5 { MASKED } else { (e * 2 / m) as u32 }).collect();
            let c = Cloud { kind: k, elements: &els, orbit: k.has_orbit().then_some(&orbit[..]), cloud: &cloud, alpha: 0.2 };
            let kk = 12;
            let mut off = vec![0u32; m + 1];
            let mut idx = vec![0u32; m * kk];
            knn(&c, kk, &mut off, &mut idx, None).unwrap();
            // The coordinates it can write along equal the logs computed afterwards.
            let mut co = vec![0.0f32; m * kk * coords_width(k)];
            knn(&c, kk, &mut off, &mut idx, Some(&mut co)).unwrap();
            let mut co2 = vec![0.0f32; m * kk * coords_width(k)];
            pair_coords(&c, &off, &idx[..off[m] as usize], &mut co2);
            for (a, b) in co.iter().zip(&co2) {
                assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{k:?} coords {a} vs {b}");
            }
            let mut off2 = vec![0u32; m + 1];
            let need = within(&c, 0.9, &mut off2, &mut [], usize::MAX);
            let mut idx2 = vec![0u32; need];
            assert_eq!(within(&c, 0.9, &mut off2, &mut idx2, usize::MAX), need);
            for q in 0..m {
                if cloud[q] == MASKED {
                    assert_eq!(off[q + 1] - off[q], 0);
                    continue;
                }
                let mut all: Vec<(f64, u32)> = (0..m as u32).filter(|&e| cloud[e as usize] == cloud[q]).map(|e| (c.distance(q as u32, e), e)).collect();
                all.sort_by(|a, b| a.partial_cmp(b).unwrap());
                let want: Vec<u32> = all.iter().take(kk).map(|x| x.1).collect();
                assert_eq!(&idx[off[q] as usize..off[q + 1] as usize], &want[..], "{k:?} knn of {q}");
                assert_eq!(want[0], q as u32, "{k:?}: an element is its own nearest");
                let inball: Vec<u32> = all.iter().filter(|x| x.0 <= 0.9).map(|x| x.1).collect();
                assert_eq!(&idx2[off2[q] as usize..off2[q + 1] as usize], &inball[..], "{k:?} radius of {q}");
            }
        }
    }
}

#[cfg(test)]
pub static EVALS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
#[cfg(test)]
pub static CHECKS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
#[cfg(test)]
pub static GATHERED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
#[cfg(test)]
pub static ROUNDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[cfg(test)]
mod timing {
    use super::*;
    #[test]
    #[ignore]
    fn lift_se3_native() {
        for scale in [10.0, 4.0, 2.0] {
            let mut u = Uniforms::Seeded(1);
            let pts: Vec<f64> = (0..1024 * 3).map(|_| (u.next().unwrap() - 0.5) * scale).collect();
            let t0 = std::time::Instant::now();
            let m = 4096;
            let mut els = vec![0.0; m * 16];
            lift(Kind::SE3, &pts, 1024, 4, &mut Uniforms::Seeded(2), &mut els, &mut []).unwrap();
            let t1 = t0.elapsed();
            let cloud = vec![0u32; m];
            let c = Cloud { kind: Kind::SE3, elements: &els, orbit: None, cloud: &cloud, alpha: 0.2 };
            let mut off = vec![0u32; m + 1];
            let mut idx = vec![0u32; m * 32];
            for a in [&EVALS, &CHECKS, &GATHERED, &ROUNDS] { a.store(0, std::sync::atomic::Ordering::Relaxed); }
            let mut coords = vec![0.0f32; m * 32 * 6];
            knn(&c, 32, &mut off, &mut idx, Some(&mut coords)).unwrap();
            let t2 = t0.elapsed();
            let t3 = t0.elapsed();
            let t4 = std::time::Instant::now();
            let mut n = 0.0;
            for i in 0..m as u32 { for j in 0..64u32 { n += c.distance(i, (i * 7 + j * 13) % m as u32); } }
            let ld = |a: &std::sync::atomic::AtomicUsize| a.load(std::sync::atomic::Ordering::Relaxed);
            println!("scale {scale}: lift {t1:?} knn {:?} coords {:?}; evals/query {} checks/query {} gathered/point {} rounds/point {}; 262k distances {:?} {n}", t2 - t1, t3 - t2, ld(&EVALS) / m, ld(&CHECKS) / m, ld(&GATHERED) / 1024, ld(&ROUNDS) as f64 / 1024.0, t4.elapsed());
        }
    }
}
