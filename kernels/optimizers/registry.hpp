// The optimizer registry (docs/design.md section 13): one line per
// optimizer, X(enumerator, rule struct). Everything that lists optimizers
// loops over this line list: the kinds (below), the per-coordinate dispatch
// (kernels/optimizers.hpp), the experiment keys, `saddlescope list`,
// config.toml and the docs' table (src/core/optimizer_table.cpp). The
// enumerator values are stored in checkpoints: append, never reorder.
// Adding an optimizer: its header in this folder, one line here and its
// #include in kernels/optimizers.hpp.
#pragma once

#define SS_OPTIMIZERS(X)                  \
  X(gd, Gd)                               \
  X(momentum, Momentum)                   \
  X(adagrad, Adagrad)                     \
  X(rmsprop, Rmsprop)                     \
  X(adam, Adam)                           \
  X(perturbed_gd, PerturbedGd)            \
  X(langevin, Langevin)                   \
  X(saddle_free_newton, SaddleFreeNewton) \
  X(annealing, Annealing)                 \
  X(adamw, AdamW)                         \
  X(nadam, NAdam)                         \
  X(radam, RAdam)
