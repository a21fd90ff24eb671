#pragma once

// Everything an application needs to embed Perfect21, CAF included.

#include <caf/all.hpp>

#include "p21/cache.hpp"
#include "p21/cluster.hpp"
#include "p21/config.hpp"
#include "p21/db.hpp"
#include "p21/error.hpp"
#include "p21/monitor.hpp"
#include "p21/object_pool.hpp"
#include "p21/optimizer.hpp"
#include "p21/protocol/cache.hpp"
#include "p21/protocol/db_pool.hpp"
#include "p21/protocol/monitor.hpp"
#include "p21/protocol/optimizer.hpp"
#include "p21/protocol/subprocess.hpp"
#include "p21/resources.hpp"
#include "p21/runtime.hpp"
#include "p21/subprocess.hpp"
#include "p21/supervisor.hpp"
#include "p21/types.hpp"
