# Every third-party dependency is found here, once, and exposed as an imported target
# named tk::<name>. Modules link only the targets they use (STYLE.md section 1).
# deploy/install-deps.sh installs the Debian packages that provide them.
find_package(PkgConfig REQUIRED)

set(TK_MISSING_DEPS "")
macro(tk_pkg target module package)
  pkg_check_modules(TKDEP_${target} QUIET IMPORTED_TARGET GLOBAL ${module})
  if(TKDEP_${target}_FOUND)
    add_library(tk::${target} ALIAS PkgConfig::TKDEP_${target})
  else()
    list(APPEND TK_MISSING_DEPS "${module} (Debian: ${package})")
  endif()
endmacro()

tk_pkg(uv       libuv       libuv1-dev)
tk_pkg(raft     raft        libraft-dev)
tk_pkg(msgpack  msgpack     libmsgpack-dev)
tk_pkg(rocksdb  rocksdb     librocksdb-dev)
tk_pkg(curl     libcurl     libcurl4-openssl-dev)
tk_pkg(crypto   libcrypto   libssl-dev)
tk_pkg(yaml     yaml-0.1    libyaml-dev)
tk_pkg(jansson  jansson     libjansson-dev)
tk_pkg(cmocka   cmocka      libcmocka-dev)

# nng 1.5 ships a CMake package and no pkg-config file.
find_package(nng QUIET CONFIG)
if(nng_FOUND)
  add_library(tk::nng ALIAS nng::nng)
else()
  list(APPEND TK_MISSING_DEPS "nng (Debian: libnng-dev)")
endif()

find_package(Threads REQUIRED)

if(TK_MISSING_DEPS)
  list(JOIN TK_MISSING_DEPS "\n  " missing)
  message(FATAL_ERROR "troika: missing dependencies:\n  ${missing}\n"
    "Run deploy/install-deps.sh (or `make test` / `make demo`, which run it).")
endif()
