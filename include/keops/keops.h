// Umbrella header of the keops library.
#pragma once

#include "keops/cache.h"
#include "keops/error.h"
#include "keops/genred.h"
#include "keops/gpu.h"
#include "keops/half.h"
#include "keops/kernel_solve.h"
#include "keops/options.h"
#include "keops/ranges.h"
#include "keops/result.h"
#include "keops/view.h"
