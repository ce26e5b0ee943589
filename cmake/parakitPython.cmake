# PARAKIT_PYTHON: the Python 3 interpreter the tests run, chosen so that the independent
# references they compare with are importable: the first candidate that imports every module in
# PARAKIT_PYTHON_MODULES. Candidates, in order: -DPARAKIT_PYTHON=... (the user's choice), the
# system interpreter (/usr/bin/python3, where Debian's python3-* packages live), then the first
# python3 on PATH (a pyenv or venv one often lacks them).
# Under CI=true an interpreter without them fails the configure: a test that skips for want of
# NumPy has not run. Elsewhere it is a warning and those tests skip with the reason.
if(NOT DEFINED PARAKIT_PYTHON_MODULES)
  set(PARAKIT_PYTHON_MODULES numpy sklearn xxhash h5py)
endif()

function(parakit_find_test_python)
  set(candidates)
  if(PARAKIT_PYTHON)
    list(APPEND candidates "${PARAKIT_PYTHON}")
  endif()
  list(APPEND candidates /usr/bin/python3)
  find_program(path_python NAMES python3 NO_CACHE)
  if(path_python)
    list(APPEND candidates "${path_python}")
  endif()
  list(REMOVE_DUPLICATES candidates)
  list(JOIN PARAKIT_PYTHON_MODULES ", " module_list)
  set(first "")
  foreach(candidate IN LISTS candidates)
    if(NOT EXISTS "${candidate}")
      continue()
    endif()
    if(NOT first)
      set(first "${candidate}")
    endif()
    execute_process(COMMAND "${candidate}" -c "import ${module_list}"
                    RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
    if(rc EQUAL 0)
      message(STATUS "Python for the tests: ${candidate} (has ${module_list})")
      set(PARAKIT_PYTHON "${candidate}" CACHE FILEPATH "Python 3 that runs the tests" FORCE)
      return()
    endif()
  endforeach()
  set(why "no Python 3 interpreter among [${candidates}] imports ${module_list} "
          "(apt-get install python3-{numpy,sklearn,xxhash,h5py})")
  if("$ENV{CI}" STREQUAL "true")
    message(FATAL_ERROR "${why}; under CI=true the tests that need them must run")
  endif()
  if(NOT first)
    message(FATAL_ERROR "no Python 3 interpreter found for the tests")
  endif()
  message(WARNING "${why}: the tests that need them will skip, naming what is missing")
  set(PARAKIT_PYTHON "${first}" CACHE FILEPATH "Python 3 that runs the tests" FORCE)
endfunction()

parakit_find_test_python()
