# Generated protocol tables from the AWS service models (owned by the
# protocol room). Sets RAMPART_MODEL_SOURCES.
set(RAMPART_MODEL_SOURCES "")
