// Every tcpdump test capture through the engine with rules built from its own destinations (see corpus.ts).
import { corpusSuite } from './corpus.ts';
corpusSuite('everything seen');
