--
-- PostgreSQL database dump
--

\restrict HQ3ena4ELi6gvWdgXFVLDoNVyzR80qpoXOSXmqu0PHtaxkiPXVDM58N02KFcI6i

-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: retail; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.retail (
    invoice_no character varying(10),
    stock_code character varying(20),
    description text,
    quantity integer,
    invoice_date timestamp without time zone,
    unit_price numeric(10,3),
    customer_id integer,
    country character varying(30)
);


ALTER TABLE public.retail OWNER TO postgres;

--
-- Data for Name: retail; Type: TABLE DATA; Schema: public; Owner: postgres
--

INSERT INTO public.retail VALUES ('489434', '85048', '15CM CHRISTMAS GLASS BALL 20 LIGHTS', 12, '2009-12-01 07:45:00', 6.950, 13085, 'United Kingdom');
INSERT INTO public.retail VALUES ('489522', '22301', 'COFFEE MUG CAT + BIRD DESIGN', 3, '2009-12-01 11:45:00', 2.550, 15998, 'United Kingdom');
INSERT INTO public.retail VALUES ('489546', '84050', 'PINK HEART SHAPE EGG FRYING PAN', 6, '2009-12-01 12:30:00', 1.650, 14156, 'EIRE');
INSERT INTO public.retail VALUES ('489572', '21948', 'SET OF 6 CAKE CHOPSTICKS', 5, '2009-12-01 13:29:00', 1.250, 17611, 'United Kingdom');
INSERT INTO public.retail VALUES ('489597', '21485', 'RED SPOT HEART HOT WATER BOTTLE', 1, '2009-12-01 14:28:00', 11.260, NULL, 'United Kingdom');
INSERT INTO public.retail VALUES ('489599', '84879', 'ASSORTED COLOUR BIRD ORNAMENT', 48, '2009-12-01 14:40:00', 1.690, 12758, 'Portugal');
INSERT INTO public.retail VALUES ('489644', '47556B', 'TEA TIME TEA TOWELS ', 10, '2009-12-01 16:30:00', 2.950, 15808, 'United Kingdom');
INSERT INTO public.retail VALUES ('489699', '85132C', 'CHARLIE AND LOLA FIGURES TINS', 1, '2009-12-02 10:51:00', 9.950, 16700, 'United Kingdom');
INSERT INTO public.retail VALUES ('489792', '21481', 'FAWN BLUE HOT WATER BOTTLE', 2, '2009-12-02 12:06:00', 2.950, 14527, 'United Kingdom');
INSERT INTO public.retail VALUES ('489815', '21821', 'GLITTER STAR GARLAND WITH BELLS ', 6, '2009-12-02 13:10:00', 3.750, 17909, 'United Kingdom');
INSERT INTO public.retail VALUES ('489856', '82616B', 'FRAPPUCINO SCARF KNITTING KIT', 1, '2009-12-02 14:36:00', 2.570, NULL, 'United Kingdom');
INSERT INTO public.retail VALUES ('489857', '37464', 'ROBOT MUG IN DISPLAY BOX', 1, '2009-12-02 14:43:00', 2.570, NULL, 'United Kingdom');
INSERT INTO public.retail VALUES ('489866', '22216', 'T-LIGHT HOLDER WHITE LACE', 10, '2009-12-02 15:04:00', 0.850, 16200, 'United Kingdom');
INSERT INTO public.retail VALUES ('489895', '22130', 'PARTY CONE CHRISTMAS DECORATION ', 12, '2009-12-03 07:25:00', 0.850, 12779, 'Poland');
