# The access advisor's table of AWS service namespaces (owned by the audit
# room). Sets RAMPART_SERVICE_NAME_SOURCES.
#
# tools/gen_service_names.py reads every service-2.json in botocore's data
# directory (RAMPART_BOTOCORE_DATA, from cmake/models.cmake) and writes one
# .cc. The command depends on the generator and on every model file, so a
# botocore upgrade regenerates the table.

set(_sn_script ${CMAKE_SOURCE_DIR}/tools/gen_service_names.py)
set(_sn_out ${CMAKE_BINARY_DIR}/generated/audit/service_names.cc)
file(GLOB _sn_models LIST_DIRECTORIES false ${RAMPART_BOTOCORE_DATA}/*/*/service-2.json)
if(NOT _sn_models)
  message(FATAL_ERROR "No AWS models under ${RAMPART_BOTOCORE_DATA} (install python3-botocore)")
endif()
set(RAMPART_SERVICE_NAME_SOURCES ${_sn_out})

add_custom_command(
  OUTPUT ${_sn_out}
  COMMAND ${Python3_EXECUTABLE} ${_sn_script} --models ${RAMPART_BOTOCORE_DATA} --out ${_sn_out}
  DEPENDS ${_sn_script} ${_sn_models}
  COMMENT "Generating the service namespace table from AWS service models"
  VERBATIM)
