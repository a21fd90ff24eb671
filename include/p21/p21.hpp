#pragma once

// Every public Perfect21 header. CAF itself is not included whole: code that
// writes its own actors includes <caf/all.hpp> (or the CAF headers it uses),
// and a header that only names Perfect21 types can include "p21/fwd.hpp".

#include "p21/cache.hpp"
#include "p21/cluster.hpp"
#include "p21/config.hpp"
#include "p21/db.hpp"
#include "p21/error.hpp"
#include "p21/fwd.hpp"
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
#include "p21/subsystem.hpp"
#include "p21/subsystems.hpp"
#include "p21/supervisor.hpp"
#include "p21/types.hpp"
