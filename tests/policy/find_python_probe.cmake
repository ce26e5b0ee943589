# cmake -DPARAKIT_PYTHON_MODULES=<modules> -P find_python_probe.cmake: runs the interpreter
# search of cmake/parakitPython.cmake on its own (test_skip_policy.py asks for a module no
# interpreter has, with and without CI=true).
list(APPEND CMAKE_MODULE_PATH ${CMAKE_CURRENT_LIST_DIR}/../../cmake)
include(parakitPython)
message(STATUS "chose ${PARAKIT_PYTHON}")
