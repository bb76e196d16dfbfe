import { fuzzSuite } from './fuzz-harness';

fuzzSuite(0, 2);
