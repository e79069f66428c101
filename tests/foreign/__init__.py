"""The walk over public BPMN diagrams nobody on this project wrote (../shared/foreign-bpmn)."""
