# parakit_add_mpi_test(<name> SOURCES <src>... [RANKS <n>...] [THREADS <n>...] [TIMEOUT <s>])
#
# Builds one GoogleTest binary with the rank-aware main and registers it
#   - under mpiexec at each rank count in RANKS (default 1 2 3 4), oversubscribed, and
#   - on the thread backend, without mpiexec, at each count in THREADS (default none).
# The same test bodies run everywhere: they get their Team from parakit::testing::team().
# Every test carries a TIMEOUT so a deadlock fails instead of hanging CI.
function(parakit_add_mpi_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;RANKS;THREADS" ${ARGN})
  if(NOT ARG_RANKS)
    set(ARG_RANKS 1 2 3 4)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE parakit_mpi_gtest_main parakit::parakit parakit_warnings)

  set(extra_flags "")
  if(MPI_CXX_LIBRARY_VERSION_STRING MATCHES "Open MPI")
    list(APPEND extra_flags --oversubscribe)
  endif()
  foreach(ranks IN LISTS ARG_RANKS)
    add_test(NAME ${name}.mpi.np${ranks}
             COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${ranks} ${extra_flags}
                     ${MPIEXEC_PREFLAGS} $<TARGET_FILE:${name}> --backend mpi ${MPIEXEC_POSTFLAGS})
    set_tests_properties(${name}.mpi.np${ranks} PROPERTIES
      TIMEOUT ${ARG_TIMEOUT} LABELS "mpi"
      # Open MPI's own allocations outlive MPI_Finalize: leak checking stays on for every
      # test without mpirun (the asan preset) and off under it.
      ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1;ASAN_OPTIONS=detect_leaks=0:abort_on_error=1;PARAKIT_SKIP_LOG=${PARAKIT_SKIP_LOG}"
      # The skip policy's status (77) when every test skipped, not GoogleTest's text.
      SKIP_RETURN_CODE 77)
  endforeach()
  foreach(threads IN LISTS ARG_THREADS)
    add_test(NAME ${name}.threads.t${threads}
             COMMAND $<TARGET_FILE:${name}> --backend threads --threads ${threads})
    set_tests_properties(${name}.threads.t${threads} PROPERTIES TIMEOUT ${ARG_TIMEOUT}
      LABELS "threads" SKIP_RETURN_CODE 77 ENVIRONMENT "PARAKIT_SKIP_LOG=${PARAKIT_SKIP_LOG}")
  endforeach()
endfunction()
