// Counter-based random numbers (Random123 Philox4x32-10): a value depends
// only on (seed, stream, index), never on the backend, the batch size or the
// order of evaluation. Streams separate independent uses of one seed.
#pragma once

#include <Random123/philox.h>

#include "hd.hpp"

namespace saddlescope::rng {

// Stream identifiers: one per independent use of the master seed.
enum Stream : std::uint32_t {
  kInitStart = 1,          // trajectory starts: index = trajectory * dim + coordinate
  kObjectiveRotation = 2,  // quadratic: Gaussian matrix whose QR gives the Haar rotation
  kObjectiveGoe = 3,       // goe-quadratic: entry (i, j), i <= j, at index i * dim + j
  kFieldFrequency = 4,     // gaussian-field: w_jk at index j * dim + k
  kFieldAmplitude = 5,     // gaussian-field: a_j
  kFieldPhase = 6,         // gaussian-field: b_j
  kMlpInputs = 7,          // mlp: X[s, k] at index s * inputs + k
  kMlpTeacher = 8,         // mlp: teacher W1 then W2 entries
  kMlpNoise = 9,           // mlp: label noise at index s * outputs + k
  kDeepLinearData = 10,    // deep-linear: inputs X, then the teacher matrix
  kPspinCouplings = 11,    // p-spin: J_{i1..ip} at index i1 N^(p-1) + ... + ip
  kLangevinNoise = 12,     // langevin: xi at (trajectory * dim + coordinate, step)
  kPerturbDirection = 13,  // perturbed-gd: direction at (trajectory * dim + coordinate, step)
  kPerturbRadius = 14,     // perturbed-gd: radius at (trajectory, step)
  kAnnealProposal = 15,    // annealing: proposal at (trajectory * dim + coordinate, step)
  kAnnealAccept = 16,      // annealing: Metropolis uniform at (trajectory, step)
  kLanczosStart = 17,      // census lanczos: start of point p at index p * dim + coordinate
  kSlqProbe = 18,          // census slq: probe j of point p at (p * probes + j) * dim + coordinate
  kSharpnessStart = 19,    // run.sharpness_every: trajectory b's first start, b * dim + coord
};

// Four 32-bit words for counter (stream, index, step) under key seed.
SS_HD r123::Philox4x32::ctr_type philox_words(std::uint64_t seed, std::uint32_t stream,
                                              std::uint64_t index, std::uint32_t step = 0) {
  r123::Philox4x32 gen;
  r123::Philox4x32::ctr_type ctr = {
      {static_cast<std::uint32_t>(index), static_cast<std::uint32_t>(index >> 32), stream, step}};
  r123::Philox4x32::key_type key = {
      {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}};
  return gen(ctr, key);
}

// 53-bit uniform in (0, 1) from two words: never 0, so log() is safe.
SS_HD double words_to_unit(std::uint32_t hi, std::uint32_t lo) {
  const std::uint64_t bits = (static_cast<std::uint64_t>(hi) << 21) ^ (lo >> 11);
  return (static_cast<double>(bits & ((1ull << 53) - 1)) + 0.5) * (1.0 / 9007199254740992.0);
}

// Uniform in (0, 1).
SS_HD double uniform(std::uint64_t seed, std::uint32_t stream, std::uint64_t index,
                     std::uint32_t step = 0) {
  const auto w = philox_words(seed, stream, index, step);
  return words_to_unit(w[0], w[1]);
}

// Standard normal by Box-Muller on the counter's four words.
SS_HD double normal(std::uint64_t seed, std::uint32_t stream, std::uint64_t index,
                    std::uint32_t step = 0) {
  const auto w = philox_words(seed, stream, index, step);
  const double u1 = words_to_unit(w[0], w[1]);
  const double u2 = words_to_unit(w[2], w[3]);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

}  // namespace saddlescope::rng
