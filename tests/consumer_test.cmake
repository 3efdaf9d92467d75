# CTest script: installs cnnzoo into a scratch prefix, then builds and runs programs against
# it as an outside project would: examples/consumer (its own main and the classify example)
# and examples/custom_layer (a user's op and its gradient tests) with find_package(cnnzoo),
# and classify.cpp compiled with pkg-config's flags alone.
# -DSHARED=ON first configures and builds the library on its own as a shared library, without
# MPI (the build everyone gets without OpenMPI).
foreach(v SRC BIN GENERATOR)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "consumer_test: -D${v}= is required")
  endif()
endforeach()

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(run_out "${out}" PARENT_SCOPE)
endfunction()

if(SHARED)
  set(root ${BIN}/consumer-test-shared)
  file(REMOVE_RECURSE ${root})
  set(lib ${root}/lib-build)
  # Unoptimised: what is tested is the packaging, and -O0 compiles three times faster.
  run(${CMAKE_COMMAND} -S ${SRC} -B ${lib} -G ${GENERATOR} -DCMAKE_BUILD_TYPE=Debug
      -DCMAKE_CXX_FLAGS_DEBUG=-O0 -DBUILD_SHARED_LIBS=ON -DCNNZOO_NATIVE=${NATIVE} -DCNNZOO_BUILD_TESTS=OFF
      -DCNNZOO_BUILD_CLI=OFF -DCNNZOO_BUILD_EXAMPLES=OFF -DCNNZOO_BUILD_BENCH=OFF
      -DCNNZOO_BUILD_DOUBLE=OFF -DCNNZOO_MPI=OFF)
  run(${CMAKE_COMMAND} --build ${lib})
  set(installed_from ${lib})
else()
  set(root ${BIN}/consumer-test)
  file(REMOVE_RECURSE ${root})
  set(installed_from ${BIN})
endif()
set(prefix ${root}/install)
set(build ${root}/build)
run(${CMAKE_COMMAND} --install ${installed_from} --prefix ${prefix})
if(SHARED AND NOT EXISTS ${prefix}/lib/libcnnzoo.so)
  message(FATAL_ERROR "no libcnnzoo.so in ${prefix}/lib")
endif()

# find_package(cnnzoo)
run(${CMAKE_COMMAND} -S ${SRC}/examples/consumer -B ${build} -G ${GENERATOR}
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build ${build})
run(${build}/consumer)
message(STATUS "${run_out}")

# examples/custom_layer: a user's op and its gradient tests against cnnzoo::cnnzoo_double; one
# of them expects the checker to catch a planted wrong backward.
if(NOT SHARED)
  run(${CMAKE_COMMAND} -S ${SRC}/examples/custom_layer -B ${root}/custom_layer -G ${GENERATOR}
      -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release)
  run(${CMAKE_COMMAND} --build ${root}/custom_layer)
  run(${root}/custom_layer/test_swish)
  message(STATUS "${run_out}")
endif()

# pkg-config
set(ENV{PKG_CONFIG_PATH} ${prefix}/lib/pkgconfig)
run(pkg-config --cflags --libs cnnzoo)
string(STRIP "${run_out}" flags)
separate_arguments(flags UNIX_COMMAND "${flags}")
run(c++ -std=c++17 -O1 ${SRC}/examples/classify.cpp -o ${root}/classify-pkgconfig ${flags}
    -Wl,-rpath,${prefix}/lib)

# Both classify programs run: no arguments is a usage error (2), a missing weights file a
# one-line error (1).
foreach(exe ${build}/classify ${root}/classify-pkgconfig)
  execute_process(COMMAND ${exe} RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
  if(NOT rc EQUAL 2)
    message(FATAL_ERROR "${exe} without arguments exited ${rc}, expected 2")
  endif()
  execute_process(COMMAND ${exe} ${root}/missing.safetensors x.png RESULT_VARIABLE rc
                  OUTPUT_QUIET ERROR_VARIABLE err)
  if(NOT rc EQUAL 1 OR NOT err MATCHES "^classify: .*missing.safetensors")
    message(FATAL_ERROR "${exe} on a missing file: exit ${rc}, stderr: ${err}")
  endif()
endforeach()
