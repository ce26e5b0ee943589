// Umbrella header: everything a program using parakit as a library needs.
#pragma once

#include "parakit/backend/collective.hpp"
#include "parakit/backend/comm.hpp"
#include "parakit/backend/team.hpp"
#include "parakit/backend/thread_pool.hpp"
#include "parakit/core/error.hpp"
#include "parakit/core/partition.hpp"
#include "parakit/data/generate.hpp"
#include "parakit/io/array_file.hpp"
#include "parakit/io/atomic_file.hpp"
#include "parakit/numeric/exact_sum.hpp"
#include "parakit/numeric/fast_sum.hpp"
#include "parakit/patterns/reduce.hpp"
#include "parakit/runtime/environment.hpp"
#include "parakit/version.hpp"
#include "parakit/workloads/sum.hpp"
