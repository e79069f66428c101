// bpmn-js-differ ships ES modules only: esbuild bundles this entry into one script that sets window.BpmnJsDiffer
// (web/static/vendor/bpmn-js-differ/bpmn-js-differ.min.js, used by web/static/js/diagram-diff.js).
export { diff } from "bpmn-js-differ";
